"""DIMSE command sets (PS3.7 section 9 and annex E) and the Part 10 file meta of a C-STORE.

Command sets are few, flat and always implicit VR little endian, so they are encoded here
directly: pydicom's general reader and writer cost about 0.4 ms a message, which is more than
the whole protocol budget of a C-STORE.
"""

import struct
from typing import TypedDict, cast

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

# Command Field values (PS3.7 E.1).
C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
C_GET_RQ = 0x0010
C_GET_RSP = 0x8010
C_FIND_RQ = 0x0020
C_FIND_RSP = 0x8020
C_ECHO_RQ = 0x0030
C_ECHO_RSP = 0x8030
C_CANCEL_RQ = 0x0FFF
RESPONSE_BIT = 0x8000
# Command Data Set Type: any other value means a data set follows the command.
NO_DATA_SET = 0x0101
DATA_SET_PRESENT = 0x0001


class Command(TypedDict, total=False):
    """The command elements the four services use, by pydicom keyword."""

    AffectedSOPClassUID: str
    CommandField: int
    MessageID: int
    MessageIDBeingRespondedTo: int
    MoveDestination: str
    Priority: int
    CommandDataSetType: int
    Status: int
    ErrorComment: str
    AffectedSOPInstanceUID: str
    NumberOfRemainingSuboperations: int
    NumberOfCompletedSuboperations: int
    NumberOfFailedSuboperations: int
    NumberOfWarningSuboperations: int
    MoveOriginatorApplicationEntityTitle: str
    MoveOriginatorMessageID: int


# Element number in group 0000, keyword, VR; in tag order, which is the encoding order.
_ELEMENTS: list[tuple[int, str, str]] = [
    (0x0002, "AffectedSOPClassUID", "UI"),
    (0x0100, "CommandField", "US"),
    (0x0110, "MessageID", "US"),
    (0x0120, "MessageIDBeingRespondedTo", "US"),
    (0x0600, "MoveDestination", "AE"),
    (0x0700, "Priority", "US"),
    (0x0800, "CommandDataSetType", "US"),
    (0x0900, "Status", "US"),
    (0x0902, "ErrorComment", "LO"),
    (0x1000, "AffectedSOPInstanceUID", "UI"),
    (0x1020, "NumberOfRemainingSuboperations", "US"),
    (0x1021, "NumberOfCompletedSuboperations", "US"),
    (0x1022, "NumberOfFailedSuboperations", "US"),
    (0x1023, "NumberOfWarningSuboperations", "US"),
    (0x1030, "MoveOriginatorApplicationEntityTitle", "AE"),
    (0x1031, "MoveOriginatorMessageID", "US"),
]
_BY_ELEMENT = {element: (keyword, vr) for element, keyword, vr in _ELEMENTS}
_IMPLICIT_HEADER = struct.Struct("<HHI")
_EXPLICIT_SHORT_HEADER = struct.Struct("<HH2sH")


class CommandInvalid(ValueError):
    """A command set that cannot be decoded."""


def command_decode(data: bytes) -> Command:
    """The known elements of an implicit VR little endian command set; others are skipped."""
    command: dict[str, int | str] = {}
    offset = 0
    try:
        while offset < len(data):
            group, element, length = _IMPLICIT_HEADER.unpack_from(data, offset)
            offset += 8
            if offset + length > len(data):
                raise CommandInvalid("truncated command set")
            value = data[offset : offset + length]
            offset += length
            if group != 0 or element not in _BY_ELEMENT:
                continue
            keyword, vr = _BY_ELEMENT[element]
            if vr == "US":
                command[keyword] = int.from_bytes(value, "little")
            else:
                command[keyword] = value.decode("ascii", "replace").strip("\0 ")
    except struct.error as exc:
        raise CommandInvalid("truncated command set") from exc
    if "CommandField" not in command:
        raise CommandInvalid("no Command Field")
    return cast(Command, command)


def _encode_value(vr: str, value: int | str) -> bytes:
    if vr == "US":
        return struct.pack("<H", value)
    text = str(value).encode("ascii", "replace")
    if len(text) % 2:
        text += b"\0" if vr == "UI" else b" "
    return text


def command_encode(command: Command) -> bytes:
    """The command set with its group length, implicit VR little endian."""
    values = cast(dict[str, int | str], command)
    body = b"".join(
        _IMPLICIT_HEADER.pack(0, element, len(encoded)) + encoded
        for element, keyword, vr in _ELEMENTS
        if keyword in values
        for encoded in (_encode_value(vr, values[keyword]),)
    )
    return _IMPLICIT_HEADER.pack(0, 0, 4) + struct.pack("<I", len(body)) + body


def _explicit(element: int, vr: str, value: bytes) -> bytes:
    if vr == "OB":
        return struct.pack("<HH2s2xI", 2, element, b"OB", len(value)) + value
    return _EXPLICIT_SHORT_HEADER.pack(2, element, vr.encode(), len(value)) + value


def file_meta_encode(*, sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str) -> bytes:
    """Preamble, prefix and file meta of a received C-STORE data set.

    Byte for byte what pynetdicom's `Event.encoded_dataset()` wrote before this upper layer
    existed, pynetdicom's implementation UID and version name included, so an instance stored
    through the SCP keeps the same file hash as before.
    """
    elements = b"".join(
        (
            _explicit(0x0001, "OB", b"\x00\x01"),
            _explicit(0x0002, "UI", _encode_value("UI", sop_class_uid)),
            _explicit(0x0003, "UI", _encode_value("UI", sop_instance_uid)),
            _explicit(0x0010, "UI", _encode_value("UI", transfer_syntax)),
            _explicit(0x0012, "UI", _encode_value("UI", PYNETDICOM_IMPLEMENTATION_UID)),
            _explicit(0x0013, "SH", _encode_value("SH", PYNETDICOM_IMPLEMENTATION_VERSION)),
        )
    )
    group_length = _explicit(0x0000, "UL", struct.pack("<I", len(elements)))
    return b"\0" * 128 + b"DICM" + group_length + elements
