"""One pass over a little-endian data set's bytes: its DICOM JSON, checked complete on the way.

The common case of ingest. Reading each element once, this gives what `instance_json` gives
(BulkDataURI values holding the tag path) together with what the completeness check and the
content hash need, so a typical image costs a few microseconds an element. Anything it does not
decode itself, or any structure it does not expect, including a truncated file, makes it give
up (None): the caller then checks the file element by element and reads it with pydicom, which
says precisely what is wrong.
"""

import base64
import struct
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR

from imaging.dicom.structure import (
    ITEM_END_TAG,
    ITEM_TAG,
    LONG_LENGTH_VRS,
    SEQUENCE_END_TAG,
    TRAILING_PADDING_TAG,
    UNDEFINED_LENGTH,
)
from imaging.dicom_metadata import (
    ASCII_VRS,
    BULK_DATA_THRESHOLD,
    INLINE_BINARY_VRS,
    MULTI_TEXT_VRS,
    NUMBER_FORMATS,
    PIXEL_DATA_TAGS,
    SINGLE_TEXT_VRS,
    NeedsPydicom,
    codec_name,
    numbers_json,
    text_json,
)

_PIXEL_DATA = 0x7FE00010
_SPECIFIC_CHARACTER_SET = 0x00080005
_PIXEL_DATA_TAGS = frozenset(int(tag) for tag in PIXEL_DATA_TAGS)
_EXPLICIT_HEADER = struct.Struct("<HH2sH")  # group, element, VR, 16-bit length
_IMPLICIT_HEADER = struct.Struct("<HHI")  # group, element, 32-bit length (also item headers)
_LONG_LENGTH = struct.Struct("<I")
_TEXT_VRS = MULTI_TEXT_VRS | SINGLE_TEXT_VRS | {"PN"}
_NUMERIC_TEXT_VRS = ASCII_VRS | {"DS", "IS", "UR"}


@dataclass(frozen=True)
class ReadDataSet:
    """A complete little-endian data set read from its bytes."""

    attributes: dict[str, Any]  # DICOM JSON; each BulkDataURI holds the element's tag path
    # Where the value of the top-level encapsulated Pixel Data starts (its offset table item).
    encapsulated_pixel_data_at: int | None
    # The length of the top-level Pixel Data when it has one (native, not encapsulated).
    pixel_data_length: int | None
    # Byte ranges of top-level elements PS3.5 gives no meaning (group lengths, trailing padding).
    meaningless: list[tuple[int, int]]


def data_set_read(
    data: bytes,
    offset: int,
    transfer_syntax_uid: str,
    *,
    implicit: bool,
    charset_aliases: dict[str, str],
) -> ReadDataSet | None:
    """The little-endian data set from `offset` to the end of `data`, or None when it is
    incomplete or holds something this reader leaves to pydicom.

    `charset_aliases` maps field spellings of character sets onto defined terms.
    """
    reader = _Reader(data, implicit=implicit, charset_aliases=charset_aliases)
    try:
        body, end = reader.dataset(
            offset, len(data), "", codec_name("iso8859"), top=True, delimited=False
        )
    except (NeedsPydicom, UnicodeDecodeError, LookupError, ValueError, struct.error):
        return None
    if end != len(data):
        return None
    if "00080005" in body:
        body["00080005"] = {"vr": "CS", "Value": ["ISO_IR 192"]}
    meta = {"00020010": {"vr": "UI", "Value": [transfer_syntax_uid]}}
    return ReadDataSet(
        attributes={**meta, **body},
        encapsulated_pixel_data_at=reader.pixel_data_at,
        pixel_data_length=reader.pixel_data_length,
        meaningless=reader.meaningless,
    )


@cache
def _key(tag: int) -> str:
    return f"{tag:08X}"


@cache
def _implicit_vr(tag: int) -> str:
    # Private or unknown tags, and ambiguous VRs, need pydicom's rules.
    if (tag >> 16) % 2:
        raise NeedsPydicom
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        raise NeedsPydicom from None
    if " or " in vr:
        raise NeedsPydicom
    return vr


class _Reader:
    def __init__(self, data: bytes, *, implicit: bool, charset_aliases: dict[str, str]) -> None:
        self.data = data
        self.implicit = implicit
        self.aliases = charset_aliases
        self.pixel_data_at: int | None = None
        self.pixel_data_length: int | None = None
        self.meaningless: list[tuple[int, int]] = []

    def dataset(
        self, pos: int, end: int, prefix: str, codec: str, *, top: bool, delimited: bool
    ) -> tuple[dict[str, Any], int]:
        """The elements from pos up to end, or (`delimited`: an item of undefined length) up to
        its item delimiter; returns where it stopped."""
        data = self.data
        implicit = self.implicit
        out: dict[str, Any] = {}
        while pos < end:
            start = pos
            if pos + 8 > end:
                raise NeedsPydicom
            if implicit:
                group, element, length = _IMPLICIT_HEADER.unpack_from(data, pos)
                tag = (group << 16) | element
                if group == 0xFFFE:
                    if tag == ITEM_END_TAG and delimited:
                        return out, pos
                    raise NeedsPydicom
                vr = _implicit_vr(tag)
                pos += 8
            else:
                group, element, raw_vr, length = _EXPLICIT_HEADER.unpack_from(data, pos)
                tag = (group << 16) | element
                if group == 0xFFFE:
                    if tag == ITEM_END_TAG and delimited:
                        return out, pos
                    raise NeedsPydicom
                if raw_vr in LONG_LENGTH_VRS:
                    if pos + 12 > end:
                        raise NeedsPydicom
                    length = _LONG_LENGTH.unpack_from(data, pos + 8)[0]
                    pos += 12
                else:
                    pos += 8
                vr = raw_vr.decode("ascii")
            key = _key(tag)
            if vr == "SQ":
                out[key], pos = self.sequence(pos, length, end, prefix + key, codec)
                continue
            if length == UNDEFINED_LENGTH:
                if not (top and tag == _PIXEL_DATA):
                    raise NeedsPydicom
                self.pixel_data_at = pos
                pos = self.past_fragments(pos, end)
                out[key] = {"vr": vr, "BulkDataURI": prefix + key}
                continue
            value_end = pos + length
            if value_end > end:
                raise NeedsPydicom
            if top and (element == 0 or tag == TRAILING_PADDING_TAG):
                self.meaningless.append((start, value_end))
            if top and tag == _PIXEL_DATA:
                self.pixel_data_length = length
            value = data[pos:value_end]
            pos = value_end
            if vr in _TEXT_VRS:
                if b"\x1b" in value:
                    raise NeedsPydicom  # ISO 2022 code extensions switch character sets mid-value
                out[key] = text_json(vr, value.decode(codec))
            elif vr in _NUMERIC_TEXT_VRS:
                out[key] = text_json(vr, value.decode("ascii"))
            elif vr in NUMBER_FORMATS:
                out[key] = numbers_json(vr, value, little_endian=True)
            elif vr in INLINE_BINARY_VRS:
                if tag in _PIXEL_DATA_TAGS or length > BULK_DATA_THRESHOLD:
                    out[key] = {"vr": vr, "BulkDataURI": prefix + key}
                elif value:
                    out[key] = {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}
                else:
                    out[key] = {"vr": vr}
            else:
                raise NeedsPydicom  # UN, AT and anything unknown
            if tag == _SPECIFIC_CHARACTER_SET:
                codec = self.codec(out[key])
        if delimited:
            raise NeedsPydicom  # an item of undefined length ended without its delimiter
        return out, pos

    def codec(self, attribute: dict[str, Any]) -> str:
        names = [self.aliases.get(v.upper(), v) for v in attribute.get("Value", [])]
        if len(names) > 1 or any(name.startswith("ISO 2022") for name in names):
            raise NeedsPydicom  # code extensions: pydicom switches character sets mid-value
        return codec_name(convert_encodings(names or ["ISO_IR 6"])[0])

    def sequence(
        self, pos: int, length: int, limit: int, path: str, codec: str
    ) -> tuple[dict[str, Any], int]:
        data = self.data
        end = limit if length == UNDEFINED_LENGTH else pos + length
        if end > limit:
            raise NeedsPydicom
        items: list[dict[str, Any]] = []
        while True:
            if pos == end and length != UNDEFINED_LENGTH:
                break
            if pos + 8 > end:
                raise NeedsPydicom
            group, element, item_length = _IMPLICIT_HEADER.unpack_from(data, pos)
            tag = (group << 16) | element
            pos += 8
            if tag == SEQUENCE_END_TAG and length == UNDEFINED_LENGTH:
                break
            if tag != ITEM_TAG:
                raise NeedsPydicom
            item_prefix = f"{path}/{len(items)}/"
            if item_length == UNDEFINED_LENGTH:
                item, pos = self.dataset(pos, end, item_prefix, codec, top=False, delimited=True)
                if pos + 8 > end or _IMPLICIT_HEADER.unpack_from(data, pos)[:2] != (0xFFFE, 0xE00D):
                    raise NeedsPydicom
                pos += 8  # the item delimiter
            else:
                item_end = pos + item_length
                if item_end > end:
                    raise NeedsPydicom
                item, pos = self.dataset(
                    pos, item_end, item_prefix, codec, top=False, delimited=False
                )
            items.append(item)
        return ({"vr": "SQ", "Value": items} if items else {"vr": "SQ"}), pos

    def past_fragments(self, pos: int, end: int) -> int:
        data = self.data
        while True:
            if pos + 8 > end:
                raise NeedsPydicom
            group, element, length = _IMPLICIT_HEADER.unpack_from(data, pos)
            tag = (group << 16) | element
            pos += 8
            if tag == SEQUENCE_END_TAG:
                return pos
            if tag != ITEM_TAG or pos + length > end:
                raise NeedsPydicom
            pos += length
