"""The DICOM JSON of one instance (PS3.18 F.2), built from its raw elements (no Django here).

pydicom's own path (read every element, convert it to a `DataElement`, then `to_json_dict`)
costs about 13 µs an element, most of an ingest's CPU for a typical image of 250-odd elements.
`instance_json_from_bytes` reads a little-endian data set's elements straight from the file's
bytes instead and decodes the common value representations itself; a data set holding anything
unusual (ISO 2022 code extensions, private or ambiguous implicit VRs, UN, AT, non-finite
floats, undefined lengths outside sequences and pixel data) is left to `instance_json`, which
reads a pydicom data set and still converts element by element through pydicom what its raw
decoding does not cover. Both give pydicom's values, with one difference: each value of a
multi-valued ASCII element loses its padding spaces, which PS3.5 says carry no meaning."""

import base64
import codecs
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

BULK_DATA_THRESHOLD = 1024
PIXEL_DATA_TAGS = frozenset({Tag(0x7FE0, 0x0010), Tag(0x7FE0, 0x0008), Tag(0x7FE0, 0x0009)})
_SPECIFIC_CHARACTER_SET = Tag(0x0008, 0x0005)
# Binary value representations whose large values are replaced by a BulkDataURI.
_BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_INLINE_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})
# Single-byte text of these VRs is ASCII; leading and trailing spaces carry no meaning.
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI"})
# Text in the data set's character set: split on backslash, or one value (LT, ST, UT).
_MULTI_TEXT_VRS = frozenset({"SH", "LO", "UC"})
_SINGLE_TEXT_VRS = frozenset({"ST", "LT", "UT"})
_NUMBER_FORMATS = {
    "US": "H",
    "SS": "h",
    "UL": "L",
    "SL": "l",
    "UV": "Q",
    "SV": "q",
    "FL": "f",
    "FD": "d",
}
_NUMBER_SIZES = {vr: struct.calcsize("<" + code) for vr, code in _NUMBER_FORMATS.items()}
_PERSON_NAME_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")

BulkDataUri = Callable[[str], str]


class _Fallback(Exception):
    """This element needs pydicom's general conversion."""


def tag_hex(tag: BaseTag | int) -> str:
    return f"{int(tag):08X}"


def instance_json(dataset: Dataset, bulk_data_uri: BulkDataUri) -> dict[str, Any]:
    """The instance's DICOM JSON (PS3.18 F.2), bulk data replaced by BulkDataURI references.

    `bulk_data_uri` turns the tag path of a bulk element ("7FE00010", or "00880200/0/7FE00010"
    inside a sequence) into its URI. Every value is decoded, so a value that cannot be raises.
    """
    meta = {
        tag_hex(element.tag): {"vr": element.VR, "Value": [str(element.value)]}
        for element in dataset.file_meta
        if element.keyword == "TransferSyntaxUID"
    }
    body = _dataset_json(dataset, "", bulk_data_uri, _codec(dataset, _codec_name("iso8859")))
    # The JSON text is Unicode whatever the file's character set was.
    if "00080005" in body:
        body["00080005"] = {"vr": "CS", "Value": ["ISO_IR 192"]}
    return {**meta, **body}


def _codec(dataset: Dataset, inherited: str) -> str:
    """The Python codec of the data set's first character set (text without escapes)."""
    if _SPECIFIC_CHARACTER_SET not in dataset:
        return inherited
    value = dataset.SpecificCharacterSet
    encodings = convert_encodings([value] if isinstance(value, str) else list(value or []))
    return _codec_name(encodings[0]) if encodings else inherited


@cache
def _codec_name(encoding: str) -> str:
    # The canonical name ("iso8859-1", not pydicom's "iso8859") takes CPython's fast decoders.
    return codecs.lookup(encoding).name


def _dataset_json(
    dataset: Dataset, prefix: str, bulk_data_uri: BulkDataUri, codec: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in sorted(dataset.keys()):
        key = tag_hex(tag)
        path = f"{prefix}{key}"
        # get_item gives the element still unconverted when nothing has read it yet (its type
        # hint says DataElement only).
        raw = cast("DataElement | RawDataElement", dataset.get_item(tag))
        if isinstance(raw, RawDataElement):
            try:
                out[key] = _raw_json(raw, path, bulk_data_uri, codec)
                continue
            except _Fallback:
                pass
        out[key] = _element_json(dataset[tag], path, bulk_data_uri, codec)
    return out


def _element_json(
    element: DataElement, path: str, bulk_data_uri: BulkDataUri, codec: str
) -> dict[str, Any]:
    """pydicom's conversion, for the elements the raw path leaves to it."""
    if element.VR == "SQ":
        items = [
            _dataset_json(item, f"{path}/{index}/", bulk_data_uri, _codec(item, codec))
            for index, item in enumerate(element.value)
        ]
        return {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
    if _is_bulk(element):
        return {"vr": element.VR, "BulkDataURI": bulk_data_uri(path)}
    converted: dict[str, Any] = element.to_json_dict(
        bulk_data_element_handler=None, bulk_data_threshold=BULK_DATA_THRESHOLD
    )
    return converted


def _is_bulk(element: DataElement) -> bool:
    if element.tag in PIXEL_DATA_TAGS:
        return True
    if element.VR not in _BULK_VRS or element.value is None:
        return False
    return len(element.value) > BULK_DATA_THRESHOLD


def _raw_vr(raw: RawDataElement) -> str:
    if raw.VR is not None:
        return str(raw.VR)
    # Implicit VR: the dictionary's, when it is public and unambiguous.
    if raw.tag.group % 2:
        raise _Fallback
    try:
        vr = str(dictionary_VR(raw.tag))
    except KeyError:
        raise _Fallback from None
    if " or " in vr:
        raise _Fallback
    return vr


def _raw_json(
    raw: RawDataElement, path: str, bulk_data_uri: BulkDataUri, codec: str
) -> dict[str, Any]:
    """One element's JSON from its bytes; raises _Fallback for what pydicom must convert."""
    vr = _raw_vr(raw)
    value: bytes | None = raw.value
    if vr == "SQ" or vr == "UN" or value is None:
        raise _Fallback
    if vr in _INLINE_BINARY_VRS:
        if raw.tag in PIXEL_DATA_TAGS or len(value) > BULK_DATA_THRESHOLD:
            return {"vr": vr, "BulkDataURI": bulk_data_uri(path)}
        if not value:
            return {"vr": vr}
        return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}
    if vr in _NUMBER_FORMATS:
        return _numbers_json(vr, value, little_endian=raw.is_little_endian)
    if vr in _ASCII_VRS or vr in ("DS", "IS", "UR"):
        text = value.decode("ascii")
    elif b"\x1b" in value:
        raise _Fallback  # ISO 2022 code extensions switch character sets inside the value
    elif vr in _MULTI_TEXT_VRS or vr in _SINGLE_TEXT_VRS or vr == "PN":
        text = value.decode(codec)
    else:
        raise _Fallback
    return _text_json(vr, text)


def _numbers_json(vr: str, value: bytes, *, little_endian: bool) -> dict[str, Any]:
    order = "<" if little_endian else ">"
    code = _NUMBER_FORMATS[vr]
    size = _NUMBER_SIZES[vr]
    if not value:
        return {"vr": vr}
    if len(value) % size:
        raise _Fallback
    numbers = list(struct.unpack(f"{order}{len(value) // size}{code}", value))
    if vr in ("FL", "FD") and not all(math.isfinite(n) for n in numbers):
        raise _Fallback
    return {"vr": vr, "Value": numbers}


def _text_json(vr: str, text: str) -> dict[str, Any]:
    if vr in _SINGLE_TEXT_VRS or vr == "UR":
        single = text.rstrip("\0 ")
        return {"vr": vr, "Value": [single]} if single else {"vr": vr}
    if vr in _ASCII_VRS or vr in ("DS", "IS"):
        values = [item.strip("\0 ") for item in text.split("\\")]
    else:
        values = [item.rstrip("\0 ") for item in text.split("\\")]
    if len(values) == 1 and not values[0]:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [_person_name_json(item) for item in values]}
    if vr in ("DS", "IS"):
        if not all(values):
            raise _Fallback
        try:
            numbers = [float(item) if vr == "DS" else int(item) for item in values]
        except ValueError:
            raise _Fallback from None
        if vr == "DS" and not all(math.isfinite(n) for n in numbers):
            raise _Fallback
        return {"vr": vr, "Value": numbers}
    return {"vr": vr, "Value": values}


def _person_name_json(value: str) -> dict[str, str]:
    # Trailing empty component groups carry no meaning.
    groups = value.rstrip("=").split("=")
    return dict(zip(_PERSON_NAME_GROUPS, groups[:3], strict=False))


# --- The same JSON straight from the file's bytes, without pydicom ----------------------------

_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_LENGTH_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_PIXEL_DATA = 0x7FE00010


@dataclass(frozen=True)
class BytesJson:
    """A data set's DICOM JSON read from its bytes; BulkDataURI values hold the tag path."""

    attributes: dict[str, Any]
    # Where the value of the top-level encapsulated Pixel Data starts (its offset table item).
    encapsulated_pixel_data_at: int | None


def instance_json_from_bytes(
    data: bytes,
    offset: int,
    transfer_syntax_uid: str,
    *,
    implicit: bool,
    charset_aliases: dict[str, str],
) -> BytesJson | None:
    """What `instance_json` gives (BulkDataURI values holding the tag path), read from the
    little-endian data set at `offset`; None when something in it needs pydicom.

    The file must have been checked complete. `charset_aliases` maps field spellings of
    character sets onto defined terms.
    """
    reader = _BytesReader(data, implicit=implicit, charset_aliases=charset_aliases)
    try:
        body, _ = reader.dataset(offset, len(data), "", _codec_name("iso8859"), top=True)
    except (_Fallback, UnicodeDecodeError, LookupError, ValueError, struct.error):
        return None
    if "00080005" in body:
        body["00080005"] = {"vr": "CS", "Value": ["ISO_IR 192"]}
    meta = {"00020010": {"vr": "UI", "Value": [transfer_syntax_uid]}}
    return BytesJson(attributes={**meta, **body}, encapsulated_pixel_data_at=reader.pixel_data_at)


def with_bulk_data_uris(attributes: dict[str, Any], bulk_data_uri: BulkDataUri) -> dict[str, Any]:
    """The JSON with each BulkDataURI (a tag path) turned into a URI."""
    out: dict[str, Any] = {}
    for key, attribute in attributes.items():
        if "BulkDataURI" in attribute:
            out[key] = {**attribute, "BulkDataURI": bulk_data_uri(attribute["BulkDataURI"])}
        elif attribute.get("vr") == "SQ" and "Value" in attribute:
            items = [with_bulk_data_uris(item, bulk_data_uri) for item in attribute["Value"]]
            out[key] = {"vr": "SQ", "Value": items}
        else:
            out[key] = attribute
    return out


class _BytesReader:
    def __init__(self, data: bytes, *, implicit: bool, charset_aliases: dict[str, str]) -> None:
        self.data = data
        self.implicit = implicit
        self.aliases = charset_aliases
        self.pixel_data_at: int | None = None

    def dataset(
        self, pos: int, end: int, prefix: str, codec: str, *, top: bool = False
    ) -> tuple[dict[str, Any], int]:
        """The elements from pos up to end or an item delimiter; returns where it stopped."""
        data = self.data
        out: dict[str, Any] = {}
        while pos < end:
            group, element = struct.unpack_from("<HH", data, pos)
            tag = (group << 16) | element
            if tag == _ITEM_END:
                return out, pos
            if group == 0xFFFE:
                raise _Fallback
            if self.implicit:
                vr = _implicit_vr(tag)
                length = struct.unpack_from("<I", data, pos + 4)[0]
                pos += 8
            else:
                vr = data[pos + 4 : pos + 6].decode("ascii")
                if vr in _LONG_LENGTH_VRS:
                    length = struct.unpack_from("<I", data, pos + 8)[0]
                    pos += 12
                else:
                    length = struct.unpack_from("<H", data, pos + 6)[0]
                    pos += 8
            key = f"{tag:08X}"
            path = prefix + key
            if vr == "SQ":
                out[key], pos = self.sequence(pos, length, path, codec)
                continue
            if length == _UNDEFINED:
                if not (top and tag == _PIXEL_DATA):
                    raise _Fallback
                self.pixel_data_at = pos
                pos = self.past_fragments(pos)
                out[key] = {"vr": vr, "BulkDataURI": path}
                continue
            value = data[pos : pos + length]
            pos += length
            if vr in ("UN", "AT"):
                raise _Fallback
            out[key] = _value_json(vr, tag, value, path, codec)
            if tag == _SPECIFIC_CHARACTER_SET:
                codec = self.codec(out[key])
        return out, pos

    def codec(self, attribute: dict[str, Any]) -> str:
        names = [self.aliases.get(v.upper(), v) for v in attribute.get("Value", [])]
        if len(names) > 1 or any(name.startswith("ISO 2022") for name in names):
            raise _Fallback  # code extensions: pydicom switches character sets mid-value
        return _codec_name(convert_encodings(names or ["ISO_IR 6"])[0])

    def sequence(self, pos: int, length: int, path: str, codec: str) -> tuple[dict[str, Any], int]:
        data = self.data
        end = len(data) if length == _UNDEFINED else pos + length
        items: list[dict[str, Any]] = []
        while pos < end:
            tag, item_length = _item_header(data, pos)
            pos += 8
            if tag == _SEQUENCE_END:
                break
            if tag != _ITEM:
                raise _Fallback
            item_end = end if item_length == _UNDEFINED else pos + item_length
            item, pos = self.dataset(pos, item_end, f"{path}/{len(items)}/", codec)
            if item_length == _UNDEFINED:
                pos += 8  # the item delimiter
            items.append(item)
        return ({"vr": "SQ", "Value": items} if items else {"vr": "SQ"}), pos

    def past_fragments(self, pos: int) -> int:
        while True:
            tag, length = _item_header(self.data, pos)
            pos += 8
            if tag == _SEQUENCE_END:
                return pos
            if tag != _ITEM:
                raise _Fallback
            pos += length


def _item_header(data: bytes, pos: int) -> tuple[int, int]:
    group, element, length = struct.unpack_from("<HHI", data, pos)
    return (group << 16) | element, length


@cache
def _implicit_vr(tag: int) -> str:
    # Private or unknown tags, and ambiguous VRs, need pydicom's rules.
    if (tag >> 16) % 2:
        raise _Fallback
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        raise _Fallback from None
    if " or " in vr:
        raise _Fallback
    return vr


def _value_json(vr: str, tag: int, value: bytes, path: str, codec: str) -> dict[str, Any]:
    if vr in _INLINE_BINARY_VRS:
        if tag in PIXEL_DATA_TAGS or len(value) > BULK_DATA_THRESHOLD:
            return {"vr": vr, "BulkDataURI": path}
        if not value:
            return {"vr": vr}
        return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}
    if vr in _NUMBER_FORMATS:
        return _numbers_json(vr, value, little_endian=True)
    if vr in _ASCII_VRS or vr in ("DS", "IS", "UR"):
        text = value.decode("ascii")
    elif b"\x1b" in value:
        raise _Fallback
    elif vr in _MULTI_TEXT_VRS or vr in _SINGLE_TEXT_VRS or vr == "PN":
        text = value.decode(codec)
    else:
        raise _Fallback
    return _text_json(vr, text)
