"""The DICOM JSON of one instance (PS3.18 F.2) from a pydicom data set (no Django here).

pydicom's own path (read every element, convert it to a `DataElement`, then `to_json_dict`)
costs about 13 µs an element. The common case of ingest does not come here: a little-endian data
set is read straight from its bytes by `imaging.dicom.elements`, which shares this module's value
conversions. What that reader leaves alone (ISO 2022 code extensions, private or ambiguous
implicit VRs, UN, AT, big endian, deflate) comes to `instance_json`, which still converts element
by element through pydicom only what the raw decoding does not cover. Both give pydicom's values,
with one difference: each value of a multi-valued ASCII element loses its padding spaces, which
PS3.5 says carry no meaning."""

import base64
import codecs
import math
import struct
from collections.abc import Callable
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
INLINE_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})
# Single-byte text of these VRs is ASCII; leading and trailing spaces carry no meaning.
ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI"})
# Text in the data set's character set: split on backslash, or one value (LT, ST, UT).
MULTI_TEXT_VRS = frozenset({"SH", "LO", "UC"})
SINGLE_TEXT_VRS = frozenset({"ST", "LT", "UT"})
NUMBER_FORMATS = {
    "US": "H",
    "SS": "h",
    "UL": "L",
    "SL": "l",
    "UV": "Q",
    "SV": "q",
    "FL": "f",
    "FD": "d",
}
_NUMBER_SIZES = {vr: struct.calcsize("<" + code) for vr, code in NUMBER_FORMATS.items()}
_PERSON_NAME_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")

BulkDataUri = Callable[[str], str]


class NeedsPydicom(Exception):
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
    body = _dataset_json(dataset, "", bulk_data_uri, _codec(dataset, codec_name("iso8859")))
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
    return codec_name(encodings[0]) if encodings else inherited


@cache
def codec_name(encoding: str) -> str:
    """The canonical name of a Python codec."""
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
            except NeedsPydicom:
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
        raise NeedsPydicom
    try:
        vr = str(dictionary_VR(raw.tag))
    except KeyError:
        raise NeedsPydicom from None
    if " or " in vr:
        raise NeedsPydicom
    return vr


def _raw_json(
    raw: RawDataElement, path: str, bulk_data_uri: BulkDataUri, codec: str
) -> dict[str, Any]:
    """One element's JSON from its bytes; raises NeedsPydicom for what pydicom must convert."""
    vr = _raw_vr(raw)
    value: bytes | None = raw.value
    if vr == "SQ" or vr == "UN" or value is None:
        raise NeedsPydicom
    if vr in INLINE_BINARY_VRS:
        if raw.tag in PIXEL_DATA_TAGS or len(value) > BULK_DATA_THRESHOLD:
            return {"vr": vr, "BulkDataURI": bulk_data_uri(path)}
        if not value:
            return {"vr": vr}
        return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}
    if vr in NUMBER_FORMATS:
        return numbers_json(vr, value, little_endian=raw.is_little_endian)
    if vr in ASCII_VRS or vr in ("DS", "IS", "UR"):
        text = value.decode("ascii")
    elif b"\x1b" in value:
        raise NeedsPydicom  # ISO 2022 code extensions switch character sets inside the value
    elif vr in MULTI_TEXT_VRS or vr in SINGLE_TEXT_VRS or vr == "PN":
        text = value.decode(codec)
    else:
        raise NeedsPydicom
    return text_json(vr, text)


def numbers_json(vr: str, value: bytes, *, little_endian: bool) -> dict[str, Any]:
    """The DICOM JSON of a binary number element's bytes."""
    order = "<" if little_endian else ">"
    code = NUMBER_FORMATS[vr]
    size = _NUMBER_SIZES[vr]
    if not value:
        return {"vr": vr}
    if len(value) % size:
        raise NeedsPydicom
    numbers = list(struct.unpack(f"{order}{len(value) // size}{code}", value))
    if vr in ("FL", "FD") and not all(math.isfinite(n) for n in numbers):
        raise NeedsPydicom
    return {"vr": vr, "Value": numbers}


def text_json(vr: str, text: str) -> dict[str, Any]:
    """The DICOM JSON of a decoded text element."""
    if vr in SINGLE_TEXT_VRS or vr == "UR":
        single = text.rstrip("\0 ")
        return {"vr": vr, "Value": [single]} if single else {"vr": vr}
    if vr in ASCII_VRS or vr in ("DS", "IS"):
        values = [item.strip("\0 ") for item in text.split("\\")]
    else:
        values = [item.rstrip("\0 ") for item in text.split("\\")]
    if len(values) == 1 and not values[0]:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [_person_name_json(item) for item in values]}
    if vr in ("DS", "IS"):
        if not all(values):
            raise NeedsPydicom
        try:
            numbers = [float(item) if vr == "DS" else int(item) for item in values]
        except ValueError:
            raise NeedsPydicom from None
        if vr == "DS" and not all(math.isfinite(n) for n in numbers):
            raise NeedsPydicom
        return {"vr": vr, "Value": numbers}
    return {"vr": vr, "Value": values}


def _person_name_json(value: str) -> dict[str, str]:
    # Trailing empty component groups carry no meaning.
    groups = value.rstrip("=").split("=")
    return dict(zip(_PERSON_NAME_GROUPS, groups[:3], strict=False))


def bulk_data_uris_resolve(metadata_json: str, base: str) -> str:
    """DICOM JSON text whose BulkDataURI values hold tag paths, with each path made a URI
    under `base`.

    A plain text replacement is exact: inside a JSON string the quotes of this key would be
    escaped, so it matches only the key itself.
    """
    return metadata_json.replace('"BulkDataURI":"', f'"BulkDataURI":"{base}')
