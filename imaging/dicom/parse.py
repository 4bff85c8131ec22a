"""Parsing one Part 10 file into what the archive indexes, Chinese character sets included."""

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, time
from typing import Any, cast

import orjson
import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from imaging.dicom.attributes import UID_MAX_CHARS, keyword_tag, parse_da, parse_tm, uid_valid
from imaging.dicom.elements import data_set_read
from imaging.dicom.failures import DicomRejected, FailureReason
from imaging.dicom.structure import (
    complete_content_sha256,
    dataset_start,
    deflated_size_check,
    frame_fragments,
    meta_transfer_syntax,
    sha256_skipping,
)
from imaging.dicom_metadata import PIXEL_DATA_TAGS, instance_json, tag_hex

# Character sets that Chinese modalities write but pydicom does not know by that name.
# "ISO_IR 58" is not a DICOM defined term (that is "ISO 2022 IR 58"), yet it is common in the
# field for single-byte-escaped GB2312 text; GB18030 is a superset of GB2312 and GBK.
_CHARSET_ALIASES = {"ISO_IR 58": "GB18030", "GB2312": "GB18030", "CHINESE": "GB18030"}

_PIXEL_DATA = 0x7FE00010


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
    # The DICOM JSON text of the file, each BulkDataURI holding the tag path of its element
    # (`bulk_data_uris_resolve` makes them URIs).
    metadata_json: str


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


def instance_parse(data: bytes, *, max_inflated: int | None = None) -> ParsedInstance:
    """Parse and check one DICOM Part 10 file, decoding every value.

    A deflated data set that would inflate to more than `max_inflated` bytes is refused before
    it is inflated.

    Raises: DicomRejected with the PS3.4 reason for anything the archive must not store.
    """
    if not data:
        raise DicomRejected(FailureReason.CANNOT_UNDERSTAND, "The file is empty.")
    transfer_syntax = meta_transfer_syntax(data)
    if transfer_syntax == DeflatedExplicitVRLittleEndian and max_inflated is not None:
        deflated_size_check(data, dataset_start(data), max_inflated)
    if (
        transfer_syntax is not None
        and transfer_syntax.is_little_endian
        and (transfer_syntax != DeflatedExplicitVRLittleEndian)
    ):
        # The common case, read and checked in one pass over the bytes; pydicom reads the rest.
        offset = dataset_start(data)
        read = data_set_read(
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
                sha256_skipping(data, offset, read.meaningless),
                transfer_syntax,
                read.encapsulated_pixel_data_at,
                read.pixel_data_length,
            )
        # Checked element by element first, so that a truncated file is named precisely.
        complete_content_sha256(data, offset, transfer_syntax)
    return _parse_with_pydicom(data)


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
    content_sha256 = complete_content_sha256(data, dataset_start(data), transfer_syntax)
    raw = cast("DataElement | RawDataElement | None", ds.get_item(_PIXEL_DATA))
    pixel_data_at = (
        raw.value_tell
        if isinstance(raw, RawDataElement) and transfer_syntax.is_encapsulated
        else None
    )
    pixel_data_length = (
        raw.length
        if isinstance(raw, RawDataElement) and not transfer_syntax.is_encapsulated
        else None
    )
    try:
        _normalise_charset(ds)
        metadata = instance_json(ds, lambda path: path)
    except Exception as exc:  # a value the data set's character set cannot decode
        raise DicomRejected(
            FailureReason.CANNOT_UNDERSTAND, f"Undecodable values: {type(exc).__name__}."
        ) from exc
    return _indexed(
        metadata, data, content_sha256, transfer_syntax, pixel_data_at, pixel_data_length
    )


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
    pixel_data_length: int | None,
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
    too_long = [keyword for keyword, value in uids.items() if len(value) > UID_MAX_CHARS]
    if too_long:
        raise DicomRejected(
            FailureReason.DATA_SET_DOES_NOT_MATCH, "UID over 64 characters: " + ", ".join(too_long)
        )
    # The UIDs name the instance in URLs and the archive: only the grammar of PS3.5 9.1 is safe.
    malformed = [keyword for keyword, value in uids.items() if not uid_valid(value)]
    if malformed:
        raise DicomRejected(
            FailureReason.DATA_SET_DOES_NOT_MATCH,
            "Not a UID (digits in dot-separated components, no leading zeros): "
            + ", ".join(malformed),
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
    if pixel_data_length is not None:
        _check_pixel_data_length(metadata, pixel_data_length, frames)
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
        metadata_json=_json_text(metadata),
    )


def _check_pixel_data_length(metadata: dict[str, Any], length: int, frames: int) -> None:
    """Refuse native Pixel Data shorter than Rows * Columns * SamplesPerPixel * BitsAllocated
    / 8 * NumberOfFrames: every reader of the image would run past its end."""
    rows, columns = _int(metadata, "Rows"), _int(metadata, "Columns")
    samples = _int(metadata, "SamplesPerPixel") or 1
    bits = _int(metadata, "BitsAllocated")
    if not rows or not columns or not bits:
        return
    bits_needed = rows * columns * samples * bits * max(frames, 1)
    if _value(metadata, "PhotometricInterpretation") == "YBR_FULL_422":
        bits_needed = bits_needed * 2 // 3  # two chroma samples shared by each pair of pixels
    needed = -(-bits_needed // 8)
    if length < needed:
        raise DicomRejected(
            FailureReason.DATA_SET_DOES_NOT_MATCH,
            f"Pixel Data holds {length} bytes; the image attributes declare {needed}.",
        )


def _json_text(metadata: dict[str, Any]) -> str:
    try:
        # orjson writes the same compact UTF-8 text as json.dumps, an order of magnitude faster.
        return orjson.dumps(metadata).decode()
    except orjson.JSONEncodeError:  # an IS value beyond 64 bits, which json writes as it is
        return json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))
