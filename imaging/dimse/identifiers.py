"""C-FIND and C-GET identifiers: query keys in, archive rows out as response identifiers."""

from datetime import date, time
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from imaging.dicom import uid_valid
from imaging.models import Series, Study
from imaging.qido import Level

LEVELS = {"STUDY": Level.STUDY, "SERIES": Level.SERIES}
_NOT_MATCHING_KEYS = {"QueryRetrieveLevel", "SpecificCharacterSet"}


def _text(value: Any) -> str:
    """An identifier value as DICOM writes it: multiple values joined by a backslash."""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list):
        return "\\".join(str(item) for item in value)
    return str(value)


def query_pairs(identifier: Dataset) -> list[tuple[str, str]]:
    """The matching keys of a C-FIND identifier as QIDO-RS style (keyword, value) pairs."""
    return [
        (element.keyword, _text(element.value))
        for element in identifier
        if element.keyword and element.keyword not in _NOT_MATCHING_KEYS and element.VR != "SQ"
    ]


def uids(identifier: Dataset, keyword: str) -> list[str]:
    """The UIDs of a list-of-UIDs key of a C-GET identifier; what is no UID matches nothing."""
    return [uid for uid in _text(identifier.get(keyword)).split("\\") if uid_valid(uid)]


def _da(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _tm(value: time | None) -> str:
    return value.strftime("%H%M%S") if value else ""


def _study_values(study: Study) -> dict[str, object]:
    return {
        "StudyInstanceUID": study.study_instance_uid,
        "PatientID": study.dicom_patient_id,
        "IssuerOfPatientID": study.issuer_of_patient_id,
        "PatientName": study.patient_name,
        "PatientBirthDate": study.patient_birth_date,
        "PatientSex": study.patient_sex,
        "StudyDate": _da(study.study_date),
        "StudyTime": _tm(study.study_time),
        "AccessionNumber": study.accession_number,
        "StudyID": study.study_id,
        "StudyDescription": study.study_description,
        "ReferringPhysicianName": study.referring_physician_name,
        "ModalitiesInStudy": [m for m in study.modalities_in_study.split("\\") if m],
        "NumberOfStudyRelatedSeries": study.series_count,
        "NumberOfStudyRelatedInstances": study.instance_count,
        "InstanceAvailability": "ONLINE",
    }


def _series_values(series: Series) -> dict[str, object]:
    return {
        **_study_values(series.study),
        "SeriesInstanceUID": series.series_instance_uid,
        "Modality": series.modality,
        "SeriesNumber": series.series_number,
        "SeriesDescription": series.series_description,
        "BodyPartExamined": series.body_part_examined,
        "NumberOfSeriesRelatedInstances": series.instance_count,
    }


def find_response(
    row: Study | Series, identifier: Dataset, level: str, retrieve_ae_title: str
) -> Dataset:
    """The identifier's keys filled in from the row; keys the archive does not hold stay empty."""
    values = _study_values(row) if isinstance(row, Study) else _series_values(row)
    response = Dataset()
    response.SpecificCharacterSet = "ISO_IR 192"
    for element in identifier:
        if not element.keyword or element.keyword in _NOT_MATCHING_KEYS:
            continue
        value = values.get(element.keyword)
        if element.VR == "SQ":
            response.add_new(element.tag, "SQ", [])
        else:
            response.add_new(element.tag, element.VR, value if value not in (None, "") else None)
    response.QueryRetrieveLevel = level
    response.RetrieveAETitle = retrieve_ae_title
    response.StudyInstanceUID = values["StudyInstanceUID"]
    if isinstance(row, Series):
        response.SeriesInstanceUID = values["SeriesInstanceUID"]
    return response
