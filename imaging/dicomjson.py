"""DICOM JSON (PS3.18 F.2) of archive rows: QIDO-RS results and the STOW-RS response."""

import json
from collections.abc import Callable, Sequence
from typing import Any

from imaging.dicom import json_string, keyword_tag
from imaging.models import Instance, Series, Study
from imaging.qido import Query
from imaging.services import IngestResult

Attributes = dict[str, Any]

# Returned for every match (PS3.18 Tables 10.6.3-3, -4 and -5), whatever includefield says.
STUDY_DEFAULT = (
    "SpecificCharacterSet",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "InstanceAvailability",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "RetrieveURL",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
SERIES_DEFAULT = (
    "SpecificCharacterSet",
    "Modality",
    "SeriesDescription",
    "SeriesInstanceUID",
    "SeriesNumber",
    "BodyPartExamined",
    "NumberOfSeriesRelatedInstances",
    "RetrieveURL",
    "StudyInstanceUID",
)
INSTANCE_DEFAULT = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceAvailability",
    "RetrieveURL",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
    "StudyInstanceUID",
    "SeriesInstanceUID",
)
# What includefield=all adds beyond the defaults, read from a stored instance of the level.
STUDY_ALL = (
    "PatientAge",
    "PatientWeight",
    "OtherPatientIDs",
    "InstitutionName",
    "StationName",
    "TimezoneOffsetFromUTC",
)
SERIES_ALL = ("SeriesDate", "SeriesTime", "ProtocolName", "Manufacturer", "Laterality")


def _tag(keyword: str) -> str:
    return keyword_tag(keyword)


def _put(out: Attributes, keyword: str, value: str | int | None) -> None:
    if value is None:
        out[_tag(keyword)] = {"vr": json_string(keyword, "")["vr"]}
    elif isinstance(value, int):
        out[_tag(keyword)] = {"vr": json_string(keyword, "")["vr"], "Value": [value]}
    else:
        out[_tag(keyword)] = json_string(keyword, value)


def _study_attributes(study: Study, url: str) -> Attributes:
    out: Attributes = {}
    _put(out, "SpecificCharacterSet", "ISO_IR 192")
    _put(out, "StudyDate", study.study_date.strftime("%Y%m%d") if study.study_date else "")
    _put(out, "StudyTime", study.study_time.strftime("%H%M%S") if study.study_time else "")
    _put(out, "AccessionNumber", study.accession_number)
    _put(out, "InstanceAvailability", "ONLINE")
    _put(out, "ModalitiesInStudy", study.modalities_in_study)
    _put(out, "ReferringPhysicianName", study.referring_physician_name)
    _put(out, "RetrieveURL", url)
    _put(out, "PatientName", study.patient_name)
    _put(out, "PatientID", study.dicom_patient_id)
    _put(out, "IssuerOfPatientID", study.issuer_of_patient_id)
    _put(out, "PatientBirthDate", study.patient_birth_date)
    _put(out, "PatientSex", study.patient_sex)
    _put(out, "StudyInstanceUID", study.study_instance_uid)
    _put(out, "StudyID", study.study_id)
    _put(out, "StudyDescription", study.study_description)
    _put(out, "NumberOfStudyRelatedSeries", study.series_count)
    _put(out, "NumberOfStudyRelatedInstances", study.instance_count)
    return out


def _series_attributes(series: Series, url: str) -> Attributes:
    out: Attributes = {}
    _put(out, "SpecificCharacterSet", "ISO_IR 192")
    _put(out, "Modality", series.modality)
    _put(out, "SeriesDescription", series.series_description)
    _put(out, "SeriesInstanceUID", series.series_instance_uid)
    _put(out, "SeriesNumber", series.series_number)
    _put(out, "BodyPartExamined", series.body_part_examined)
    _put(out, "NumberOfSeriesRelatedInstances", series.instance_count)
    _put(out, "RetrieveURL", url)
    _put(out, "StudyInstanceUID", series.study.study_instance_uid)
    return out


def _instance_attributes(instance: Instance, url: str, stored: Attributes) -> Attributes:
    out: Attributes = {}
    _put(out, "SpecificCharacterSet", "ISO_IR 192")
    _put(out, "SOPClassUID", instance.sop_class_uid)
    _put(out, "SOPInstanceUID", instance.sop_instance_uid)
    _put(out, "InstanceAvailability", "ONLINE")
    _put(out, "RetrieveURL", url)
    _put(out, "InstanceNumber", instance.instance_number)
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        tag = _tag(keyword)
        if tag in stored:
            out[tag] = stored[tag]
    if instance.number_of_frames:
        _put(out, "NumberOfFrames", instance.number_of_frames)
    _put(out, "StudyInstanceUID", instance.study.study_instance_uid)
    _put(out, "SeriesInstanceUID", instance.series.series_instance_uid)
    return out


def _inline(stored: Attributes, tags: set[str], into: Attributes) -> None:
    """Copy requested attributes from a stored instance, skipping bulk data references."""
    for tag in tags:
        if tag in into:
            continue
        attribute = stored.get(tag)
        if attribute is not None and "BulkDataURI" not in attribute:
            into[tag] = attribute


def _extra_tags(query: Query, defaults: Sequence[str], extra_all: Sequence[str]) -> set[str]:
    tags = set(query.include_tags) - {_tag(k) for k in defaults}
    if query.include_all:
        tags |= {_tag(k) for k in extra_all}
    return tags


def study_extra_tags(query: Query) -> set[str]:
    """Tags a study search asks for beyond the defaults, read from each study's first instance."""
    return _extra_tags(query, STUDY_DEFAULT, STUDY_ALL)


def series_extra_tags(query: Query) -> set[str]:
    """Tags a series search asks for beyond the defaults (from the study or first instance)."""
    return _extra_tags(query, SERIES_DEFAULT, SERIES_ALL)


def studies_json(
    studies: list[Study], query: Query, url: Callable[[Study], str], first: dict[int, Attributes]
) -> list[Attributes]:
    """QIDO-RS study results; `first` holds the extra tags of each study's first instance."""
    extra = study_extra_tags(query)
    results = []
    for study in studies:
        out = _study_attributes(study, url(study))
        if extra and study.pk in first:
            _inline(first[study.pk], extra, out)
        results.append(out)
    return results


def series_json(
    rows: list[Series], query: Query, url: Callable[[Series], str], first: dict[int, Attributes]
) -> list[Attributes]:
    """QIDO-RS series results; `first` holds the extra tags of each series' first instance."""
    extra = series_extra_tags(query)
    results = []
    for series in rows:
        out = _series_attributes(series, url(series))
        if extra:
            study_attributes = _study_attributes(series.study, "")
            _inline(study_attributes, extra, out)
            if series.pk in first:
                _inline(first[series.pk], extra, out)
        results.append(out)
    return results


def instances_json(
    rows: list[Instance], query: Query, url: Callable[[Instance], str]
) -> list[Attributes]:
    results = []
    for instance in rows:
        stored: Attributes = json.loads(instance.metadata)
        out = _instance_attributes(instance, url(instance), stored)
        extra = set(query.include_tags)
        if query.include_all:
            extra |= set(stored)
        _inline(_study_attributes(instance.study, ""), extra, out)
        _inline(_series_attributes(instance.series, ""), extra, out)
        _inline(stored, extra, out)
        results.append(out)
    return results


def stow_response(
    results: list[IngestResult], study_url: str, instance_url: Callable[[IngestResult], str]
) -> Attributes:
    """The Store Instances response module (PS3.18 Table 10.5.3-1)."""
    stored = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    out: Attributes = {}
    if study_url:
        _put(out, "RetrieveURL", study_url)
    if failed:
        out[_tag("FailedSOPSequence")] = {
            "vr": "SQ",
            "Value": [
                {
                    _tag("ReferencedSOPClassUID"): json_string(
                        "ReferencedSOPClassUID", r.sop_class_uid
                    ),
                    _tag("ReferencedSOPInstanceUID"): json_string(
                        "ReferencedSOPInstanceUID", r.sop_instance_uid
                    ),
                    _tag("FailureReason"): {"vr": "US", "Value": [int(r.failure_reason or 0x0110)]},
                }
                for r in failed
            ],
        }
    if stored:
        out[_tag("ReferencedSOPSequence")] = {
            "vr": "SQ",
            "Value": [
                {
                    _tag("ReferencedSOPClassUID"): json_string(
                        "ReferencedSOPClassUID", r.sop_class_uid
                    ),
                    _tag("ReferencedSOPInstanceUID"): json_string(
                        "ReferencedSOPInstanceUID", r.sop_instance_uid
                    ),
                    _tag("RetrieveURL"): json_string("RetrieveURL", instance_url(r)),
                }
                for r in stored
            ],
        }
    return out
