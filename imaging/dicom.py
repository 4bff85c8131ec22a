"""DICOM parsing, validation, character sets and DICOM JSON with pydicom (no Django here)."""

import hashlib
import io
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time
from enum import IntEnum
from functools import cache
from typing import Any, cast

import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from imaging.dicom_metadata import (
    PIXEL_DATA_TAGS,
    instance_json,
    instance_json_from_bytes,
    tag_hex,
)

# Character sets that Chinese modalities write but pydicom does not know by that name.
# "ISO_IR 58" is not a DICOM defined term (that is "ISO 2022 IR 58"), yet it is common in the
# field for single-byte-escaped GB2312 text; GB18030 is a superset of GB2312 and GBK.
_CHARSET_ALIASES = {"ISO_IR 58": "GB18030", "GB2312": "GB18030", "CHINESE": "GB18030"}

_PIXEL_DATA = 0x7FE00010
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_TRAILING_PADDING = 0xFFFCFFFC
_LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)


class FailureReason(IntEnum):
    """Status codes of PS3.4 Annex B / PS3.7 Annex C used in STOW-RS FailureReason (0008,1197)."""

    PROCESSING_FAILURE = 0x0110
    DUPLICATE_SOP_INSTANCE = 0x0111
    NOT_AUTHORIZED = 0x0124
    OUT_OF_RESOURCES = 0xA700
    DATA_SET_DOES_NOT_MATCH = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122


class DicomRejected(Exception):
    """The bytes are not an instance the archive can store, with the PS3.4 reason code."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class TranscodeUnsupported(Exception):
    """The stored instance cannot be converted to the requested transfer syntax."""


@dataclass(frozen=True)
class ParsedInstance:
    """What the archive indexes about one instance, decoded to Unicode."""

    sha256: str  # of the whole file: its content address in storage
    # Of the data set's content alone (preamble, file meta, group lengths and trailing padding
    # excluded): the identity of the instance, since each door writes its own file meta (STOW
    # keeps the sender's, the SCP builds one from the association).
    dataset_sha256: str
    size: int
    transfer_syntax_uid: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str
    patient_birth_date: str
    patient_sex: str
    study_date: date | None
    study_time: time | None
    accession_number: str
    study_id: str
    study_description: str
    referring_physician_name: str
    modality: str
    series_number: int | None
    series_description: str
    body_part_examined: str
    instance_number: int | None
    number_of_frames: int
    # Per frame, the [offset, length] of its fragments in the file (see `frame_fragments`).
    frame_fragments: list[list[list[int]]]
    # The DICOM JSON of the file, each BulkDataURI holding the tag path of its element.
    metadata: dict[str, Any]


def _le_or_be(little_endian: bool) -> str:
    return "<" if little_endian else ">"


def _walk_dataset(
    buf: bytes,
    pos: int,
    end: int,
    implicit: bool,
    little: bool,
    meaningless: list[tuple[int, int]] | None = None,
) -> int:
    """Check that every element between pos and end is complete; return where parsing stopped.

    pydicom reads a truncated file without complaint (the last value is simply short), so the
    archive walks the element structure itself before trusting it. `meaningless` collects the
    byte ranges of elements PS3.5 gives no meaning (group lengths, data set trailing padding).
    """
    order = _le_or_be(little)
    while pos < end:
        start = pos
        if pos + 8 > end:
            raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "Truncated data element header.")
        group, element = struct.unpack_from(order + "HH", buf, pos)
        tag = (group << 16) | element
        if tag in (_ITEM_END, _SEQUENCE_END):
            return pos
        if implicit or group == 0xFFFE:
            length = struct.unpack_from(order + "I", buf, pos + 4)[0]
            vr = b"SQ" if length == _UNDEFINED else b""
            pos += 8
        else:
            vr = buf[pos + 4 : pos + 6]
            if vr in _LONG_LENGTH_VRS:
                if pos + 12 > end:
                    raise DicomRejected(
                        FailureReason.CANNOT_UNDERSTAND, "Truncated data element header."
                    )
                length = struct.unpack_from(order + "I", buf, pos + 8)[0]
                pos += 12
            else:
                length = struct.unpack_from(order + "H", buf, pos + 6)[0]
                pos += 8
        if length == _UNDEFINED:
            pos = _walk_items(buf, pos, end, implicit, little)
        else:
            pos += length
            if pos > end:
                name = keyword_for_tag(tag) or f"({group:04X},{element:04X})"
                raise DicomRejected(
                    FailureReason.CANNOT_UNDERSTAND, f"The file is truncated inside {name}."
                )
            if meaningless is not None and (element == 0x0000 or tag == _TRAILING_PADDING):
                meaningless.append((start, pos))
    return pos


def _walk_items(buf: bytes, pos: int, end: int, implicit: bool, little: bool) -> int:
    """Walk the items of an undefined-length sequence or encapsulated pixel data."""
    order = _le_or_be(little)
    while True:
        if pos + 8 > end:
            raise DicomRejected(
                FailureReason.CANNOT_UNDERSTAND, "The file ends inside a sequence or pixel data."
            )
        group, element, length = struct.unpack_from(order + "HHI", buf, pos)
        tag = (group << 16) | element
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "Malformed sequence item.")
        if length == _UNDEFINED:
            pos = _walk_dataset(buf, pos, end, implicit, little)
            if pos + 8 > end or _tag_at(buf, pos, order) != _ITEM_END:
                raise DicomRejected(
                    FailureReason.CANNOT_UNDERSTAND, "The file ends inside a sequence item."
                )
            pos += 8
        else:
            pos += length
            if pos > end:
                raise DicomRejected(
                    FailureReason.CANNOT_UNDERSTAND, "The file is truncated inside an item."
                )


def _tag_at(buf: bytes, pos: int, order: str) -> int:
    group, element = struct.unpack_from(order + "HH", buf, pos)
    return int((group << 16) | element)


def _check_complete(data: bytes, dataset_offset: int, transfer_syntax: UID) -> str:
    """Check that the data set is whole; return the SHA-256 of its content.

    The content is the data set's top-level elements as encoded, less group lengths and data
    set trailing padding: PS3.5 gives those no meaning and senders add or drop them (dcmtk
    drops the padding), so they must not make one instance look like two.
    """
    meaningless: list[tuple[int, int]] = []
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            body = inflater.decompress(data[dataset_offset:])
        except zlib.error as exc:
            raise DicomRejected(
                FailureReason.CANNOT_UNDERSTAND, "The deflated data set is corrupt."
            ) from exc
        if not inflater.eof:
            raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "The deflated data set is cut.")
        _walk_dataset(body, 0, len(body), implicit=False, little=True, meaningless=meaningless)
        return _content_sha256(body, 0, meaningless)
    end = _walk_dataset(
        data,
        dataset_offset,
        len(data),
        implicit=transfer_syntax.is_implicit_VR,
        little=transfer_syntax.is_little_endian,
        meaningless=meaningless,
    )
    if end != len(data):
        raise DicomRejected(
            FailureReason.CANNOT_UNDERSTAND, "Unexpected delimiter at the top of the data set."
        )
    return _content_sha256(data, dataset_offset, meaningless)


def _content_sha256(buf: bytes, start: int, skipped: list[tuple[int, int]]) -> str:
    digest = hashlib.sha256()
    view = memoryview(buf)
    for skip_start, skip_end in skipped:
        digest.update(view[start:skip_start])
        start = skip_end
    digest.update(view[start:])
    return digest.hexdigest()


def dataset_sha256(data: bytes) -> str:
    """The content hash `instance_parse` gives a stored, already checked Part 10 file."""
    meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta
    return _check_complete(data, _dataset_offset(data), UID(str(meta.TransferSyntaxUID)))


def _normalise_charset(ds: Dataset) -> None:
    """Map field spellings of Chinese character sets onto names pydicom decodes.

    pydicom decodes each text value lazily with the data set's character set, so fixing the
    name is enough; `instance_json` then decodes every value once.
    """
    raw = ds.get("SpecificCharacterSet")
    if raw is None:
        return
    values = [raw] if isinstance(raw, str) else list(raw)
    fixed = [_CHARSET_ALIASES.get(str(v).strip().upper(), str(v).strip()) for v in values]
    if fixed != values:
        ds.SpecificCharacterSet = fixed[0] if len(fixed) == 1 else fixed


def parse_da(value: str) -> date | None:
    """A DICOM DA value (YYYYMMDD, or the old YYYY.MM.DD) as a date, None if empty or invalid."""
    text = value.strip().replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def parse_tm(value: str) -> time | None:
    """A DICOM TM value (HH, HHMM, HHMMSS, HHMMSS.FFFFFF; old HH:MM:SS) as a time, or None."""
    text = value.strip().replace(":", "")
    whole, _, fraction = text.partition(".")
    if not whole.isdigit() or len(whole) not in (2, 4, 6) or (fraction and not fraction.isdigit()):
        return None
    try:
        return time(
            int(whole[:2]),
            int(whole[2:4] or 0),
            int(whole[4:6] or 0),
            int((fraction + "000000")[:6]) if fraction else 0,
        )
    except ValueError:
        return None


def instance_parse(data: bytes) -> ParsedInstance:
    """Parse and check one DICOM Part 10 file, decoding every value.

    Raises: DicomRejected with the PS3.4 reason for anything the archive must not store.
    """
    if not data:
        raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "The file is empty.")
    transfer_syntax = _meta_transfer_syntax(data)
    if (
        transfer_syntax is not None
        and transfer_syntax.is_little_endian
        and (transfer_syntax != DeflatedExplicitVRLittleEndian)
    ):
        # The common case, read straight from the bytes; pydicom reads the rest.
        offset = _dataset_offset(data)
        content_sha256 = _complete(data, offset, transfer_syntax)
        read = instance_json_from_bytes(
            data,
            offset,
            str(transfer_syntax),
            implicit=transfer_syntax.is_implicit_VR,
            charset_aliases=_CHARSET_ALIASES,
        )
        if read is not None:
            return _indexed(
                read.attributes,
                data,
                content_sha256,
                transfer_syntax,
                read.encapsulated_pixel_data_at,
            )
    return _parse_with_pydicom(data)


def _meta_transfer_syntax(data: bytes) -> UID | None:
    """The file meta's TransferSyntaxUID, if the file has a preamble and it is a known one."""
    if data[128:132] != b"DICM":
        return None
    pos = 132
    try:
        while pos + 8 <= len(data) and struct.unpack_from("<H", data, pos)[0] == 0x0002:
            element = struct.unpack_from("<H", data, pos + 2)[0]
            vr = data[pos + 4 : pos + 6]
            long_form = vr in _LONG_LENGTH_VRS
            length = struct.unpack_from(
                "<I" if long_form else "<H", data, pos + (8 if long_form else 6)
            )[0]
            start = pos + (12 if long_form else 8)
            if element == 0x0010:
                uid = UID(data[start : start + length].decode("ascii").strip("\0 "))
                return uid if uid.is_transfer_syntax else None
            pos = start + length
    except (struct.error, UnicodeDecodeError):
        return None
    return None


def _complete(data: bytes, offset: int, transfer_syntax: UID) -> str:
    try:
        return _check_complete(data, offset, transfer_syntax)
    except struct.error as exc:
        raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "The file is truncated.") from exc


def _parse_with_pydicom(data: bytes) -> ParsedInstance:
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=False)
    except InvalidDicomError as exc:
        raise DicomRejected(
            FailureReason.CANNOT_UNDERSTAND, "Not a DICOM file (no DICM preamble)."
        ) from exc
    except Exception as exc:  # pydicom raises many types for malformed input
        raise DicomRejected(
            FailureReason.CANNOT_UNDERSTAND, f"Unreadable DICOM file: {type(exc).__name__}."
        ) from exc
    assert isinstance(ds, FileDataset)
    ts_value = ds.file_meta.get("TransferSyntaxUID")
    if not ts_value:
        raise DicomRejected(
            FailureReason.CANNOT_UNDERSTAND, "The file meta lacks a TransferSyntaxUID."
        )
    transfer_syntax = UID(str(ts_value))
    if not transfer_syntax.is_transfer_syntax:
        raise DicomRejected(
            FailureReason.TRANSFER_SYNTAX_NOT_SUPPORTED,
            f"Unknown transfer syntax {transfer_syntax}.",
        )
    content_sha256 = _complete(data, _dataset_offset(data), transfer_syntax)
    raw = cast("DataElement | RawDataElement | None", ds.get_item(_PIXEL_DATA))
    pixel_data_at = (
        raw.value_tell
        if isinstance(raw, RawDataElement) and transfer_syntax.is_encapsulated
        else None
    )
    try:
        _normalise_charset(ds)
        metadata = instance_json(ds, lambda path: path)
    except Exception as exc:  # a value the data set's character set cannot decode
        raise DicomRejected(
            FailureReason.CANNOT_UNDERSTAND, f"Undecodable values: {type(exc).__name__}."
        ) from exc
    return _indexed(metadata, data, content_sha256, transfer_syntax, pixel_data_at)


def _value(metadata: dict[str, Any], keyword: str) -> str:
    """An attribute as DICOM text: values joined by backslashes, name groups by "="."""
    attribute = metadata.get(keyword_tag(keyword))
    values = attribute.get("Value") if attribute else None
    if not values:
        return ""
    if attribute is not None and attribute["vr"] == "PN":
        texts = [
            "=".join(v.get(g, "") for g in ("Alphabetic", "Ideographic", "Phonetic"))
            for v in values
        ]
    else:
        texts = ["" if v is None else str(v) for v in values]
    return "\\".join(texts).strip()


def _person_name(metadata: dict[str, Any], keyword: str) -> str:
    # Trailing empty groups ("Wang^XiaoDong=王^小东=") carry no meaning.
    return _value(metadata, keyword).rstrip("=")


def _int(metadata: dict[str, Any], keyword: str) -> int | None:
    attribute = metadata.get(keyword_tag(keyword))
    values = attribute.get("Value") if attribute else None
    try:
        return int(values[0]) if values and values[0] not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _indexed(
    metadata: dict[str, Any],
    data: bytes,
    content_sha256: str,
    transfer_syntax: UID,
    pixel_data_at: int | None,
) -> ParsedInstance:
    """The indexed attributes of a complete file, from its DICOM JSON."""
    uids = {
        keyword: _value(metadata, keyword)
        for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
    }
    missing = [keyword for keyword, value in uids.items() if not value]
    if missing:
        raise DicomRejected(
            FailureReason.DATA_SET_DOES_NOT_MATCH, "Missing " + ", ".join(missing) + "."
        )
    too_long = [keyword for keyword, value in uids.items() if len(value) > 64]
    if too_long:
        raise DicomRejected(
            FailureReason.DATA_SET_DOES_NOT_MATCH, "UID over 64 characters: " + ", ".join(too_long)
        )
    has_pixels = any(tag_hex(tag) in metadata for tag in PIXEL_DATA_TAGS)
    frames = _int(metadata, "NumberOfFrames") or (1 if "7FE00010" in metadata else 0)
    is_image = keyword_tag("Rows") in metadata or "Image Storage" in UID(uids["SOPClassUID"]).name
    if is_image and not has_pixels:
        # A cut that falls exactly between two elements leaves a well-formed but short file.
        raise DicomRejected(
            FailureReason.DATA_SET_DOES_NOT_MATCH,
            "The image has no pixel data (is the file truncated?).",
        )
    return ParsedInstance(
        sha256=hashlib.sha256(data).hexdigest(),
        dataset_sha256=content_sha256,
        size=len(data),
        transfer_syntax_uid=str(transfer_syntax),
        sop_class_uid=uids["SOPClassUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        patient_id=_value(metadata, "PatientID")[:64],
        issuer_of_patient_id=_value(metadata, "IssuerOfPatientID")[:64],
        patient_name=_person_name(metadata, "PatientName")[:400],
        patient_birth_date=_value(metadata, "PatientBirthDate")[:8],
        patient_sex=_value(metadata, "PatientSex")[:16],
        study_date=parse_da(_value(metadata, "StudyDate")),
        study_time=parse_tm(_value(metadata, "StudyTime")),
        accession_number=_value(metadata, "AccessionNumber")[:64],
        study_id=_value(metadata, "StudyID")[:64],
        study_description=_value(metadata, "StudyDescription")[:200],
        referring_physician_name=_person_name(metadata, "ReferringPhysicianName")[:400],
        modality=_value(metadata, "Modality")[:16],
        series_number=_int(metadata, "SeriesNumber"),
        series_description=_value(metadata, "SeriesDescription")[:200],
        body_part_examined=_value(metadata, "BodyPartExamined")[:64],
        instance_number=_int(metadata, "InstanceNumber"),
        number_of_frames=frames,
        frame_fragments=frame_fragments(data, pixel_data_at, transfer_syntax, frames),
        metadata=metadata,
    )


def frame_fragments(
    data: bytes, pixel_data_at: int | None, transfer_syntax: UID, frames: int
) -> list[list[list[int]]]:
    """Where each frame of encapsulated pixel data lies in the file.

    `pixel_data_at` is where the Pixel Data value (its offset table item) starts. One list per
    frame of [offset, length] pairs, one per fragment; [] when the fragments do not map to
    frames without decoding them (several per frame and no Basic Offset Table).
    """
    if pixel_data_at is None or not transfer_syntax.is_encapsulated or frames < 1:
        return []
    start = pixel_data_at
    if start + 8 > len(data) or _tag_at(data, start, "<") != _ITEM:
        return []
    table_length = int(struct.unpack_from("<I", data, start + 4)[0])
    table = list(struct.unpack_from(f"<{table_length // 4}I", data, start + 8))
    first = pos = start + 8 + table_length
    fragments: list[tuple[int, list[int]]] = []  # (offset from the first fragment, [at, length])
    while pos + 8 <= len(data) and _tag_at(data, pos, "<") == _ITEM:
        length = int(struct.unpack_from("<I", data, pos + 4)[0])
        fragments.append((pos - first, [pos + 8, length]))
        pos += 8 + length
    if len(table) == frames:
        bounds = [*table, pos - first]
        return [
            [at for start, at in fragments if bounds[index] <= start < bounds[index + 1]]
            for index in range(frames)
        ]
    if len(fragments) == frames:
        return [[at] for _, at in fragments]
    if frames == 1:
        return [[at for _, at in fragments]]
    return []


def _dataset_offset(data: bytes) -> int:
    """Byte offset where the data set starts, after the preamble and the file meta group."""
    pos = 132
    # (0002,0000) File Meta Information Group Length is explicit VR little endian, UL.
    group, element = struct.unpack_from("<HH", data, pos)
    if (group, element) == (0x0002, 0x0000) and data[pos + 4 : pos + 6] == b"UL":
        return pos + 12 + int(struct.unpack_from("<I", data, pos + 8)[0])
    # No group length: walk the meta elements, which are always explicit VR little endian.
    while pos + 8 <= len(data) and struct.unpack_from("<H", data, pos)[0] == 0x0002:
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_LENGTH_VRS:
            pos += 12 + int(struct.unpack_from("<I", data, pos + 8)[0])
        else:
            pos += 8 + int(struct.unpack_from("<H", data, pos + 6)[0])
    return pos


_keyword_vr = cache(dictionary_VR)


def json_string(keyword: str, value: str) -> dict[str, Any]:
    """One DICOM JSON attribute for a text value; PN is split into its component groups."""
    vr = _keyword_vr(keyword)
    if not value:
        return {"vr": vr}
    if vr == "PN":
        groups = value.split("=")
        names = dict(zip(("Alphabetic", "Ideographic", "Phonetic"), groups, strict=False))
        return {"vr": vr, "Value": [{k: v for k, v in names.items() if v}]}
    if vr in ("IS", "US", "UL", "SL", "SS"):
        return {"vr": vr, "Value": [int(value)]}
    return {"vr": vr, "Value": value.split("\\")}


@cache
def keyword_tag(keyword: str) -> str:
    """The 8-hex-digit tag of a keyword (raises KeyError if unknown)."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return tag_hex(tag)


def tag_keyword(tag: str) -> str:
    """The keyword of an 8-hex-digit tag, or "" for private and unknown tags."""
    try:
        return keyword_for_tag(int(tag, 16)) or ""
    except ValueError:
        return ""


def transcode_explicit_le(data: bytes) -> bytes:
    """Re-encode a stored instance in Explicit VR Little Endian, decompressing its pixel data.

    Raises: TranscodeUnsupported for big-endian or undecodable instances.
    """
    ds = pydicom.dcmread(io.BytesIO(data))
    transfer_syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    if transfer_syntax == ExplicitVRLittleEndian:
        return data
    if not transfer_syntax.is_little_endian:
        raise TranscodeUnsupported("Big endian instances are served only as stored.")
    try:
        if transfer_syntax.is_compressed and "PixelData" in ds:
            # Same instance in another transfer syntax (PS3.18 8.7.3.5): keep its UID.
            ds.decompress(generate_instance_uid=False)
        else:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True, implicit_vr=False, little_endian=True)
    except Exception as exc:  # decoder plugins raise many types
        raise TranscodeUnsupported(f"Cannot decode {transfer_syntax}: {exc}") from exc
    return out.getvalue()


def tags_of(names: Iterable[str]) -> set[str]:
    """Map keywords or 8-hex-digit tags to tags; unknown names are dropped."""
    tags: set[str] = set()
    for name in names:
        candidate = name.strip()
        if len(candidate) == 8 and all(c in "0123456789abcdefABCDEF" for c in candidate):
            tags.add(candidate.upper())
            continue
        try:
            tags.add(keyword_tag(candidate))
        except KeyError:
            continue
    return tags
