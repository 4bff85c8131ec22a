"""DICOM parsing, validation, character sets and DICOM JSON with pydicom (no Django here).
Callers import from here."""

from imaging.dicom.attributes import (
    json_string,
    keyword_tag,
    parse_da,
    parse_tm,
    tag_keyword,
    tags_of,
    uid_valid,
)
from imaging.dicom.failures import DicomRejected, FailureReason
from imaging.dicom.parse import ParsedInstance, instance_parse
from imaging.dicom.structure import dataset_sha256, frame_fragments
from imaging.dicom.transcode import (
    TranscodeTooLarge,
    TranscodeUnsupported,
    transcode_cost,
    transcode_explicit_le,
)

__all__ = [
    "DicomRejected",
    "FailureReason",
    "ParsedInstance",
    "TranscodeTooLarge",
    "TranscodeUnsupported",
    "dataset_sha256",
    "frame_fragments",
    "instance_parse",
    "json_string",
    "keyword_tag",
    "parse_da",
    "parse_tm",
    "tag_keyword",
    "tags_of",
    "transcode_cost",
    "transcode_explicit_le",
    "uid_valid",
]
