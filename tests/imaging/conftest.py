"""Imaging test helpers: DICOM files from the pydicom wheels, a private archive, digests."""

import hashlib
import io
import json
from pathlib import Path

import pydicom
from django.conf import settings
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.dataset import Dataset

from imaging.models import Instance, Series, Study
from server.directory.models import Patient, Sex


def dicom_file(name: str) -> bytes:
    """A file shipped with pydicom or pydicom-data, read without network access."""
    path = get_testdata_file(name, download=False)
    if path is None:
        charset = get_charset_files(name)
        if not charset:
            raise LookupError(name)
        path = charset[0]
    return Path(str(path)).read_bytes()


def dicom_dataset(name: str) -> Dataset:
    return pydicom.dcmread(io.BytesIO(dicom_file(name)))


def dataset_bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def with_patient_id(name: str, patient_id: str, **changes: str) -> bytes:
    ds = dicom_dataset(name)
    ds.PatientID = patient_id
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return dataset_bytes(ds)


def for_patient(name: str, patient: Patient, **changes: str) -> bytes:
    """The file relabelled as the patient's: card number, name, sex and birth date agree, so
    ingest matches it to the patient (for whoever may see the patient)."""
    ds = dicom_dataset(name)
    if ds.get("SpecificCharacterSet") not in ("ISO_IR 192", "GB18030"):
        ds.SpecificCharacterSet = "ISO_IR 192"  # the name may be Chinese
    ds.PatientID = patient.health_card_number
    ds.PatientName = patient.name
    ds.PatientSex = {Sex.MALE: "M", Sex.FEMALE: "F", Sex.OTHER: "O"}.get(Sex(patient.sex), "")
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return dataset_bytes(ds)


def mallory_uid(key: str) -> str:
    return f"1.2.826.0.1.3680043.8.498.515.{key}"


def mallory(card: str, key: str = "1") -> bytes:
    """A girl's CT (Mallory^Fake, F, born 2020) carrying the card number `card`; its study,
    series and instance UIDs are `mallory_uid(key)` and that plus ".1", ".1.1"."""
    ds = dicom_dataset("CT_small.dcm")
    ds.PatientID = card
    ds.PatientName = "Mallory^Fake"
    ds.PatientSex = "F"
    ds.PatientBirthDate = "20200101"
    ds.StudyInstanceUID = mallory_uid(key)
    ds.SeriesInstanceUID = mallory_uid(key) + ".1"
    ds.SOPInstanceUID = mallory_uid(key) + ".1.1"
    return dataset_bytes(ds)


def archive_digest(root: Path | str | None = None) -> str:
    """SHA-256 over every stored file and every study, series and instance row."""
    base = Path(root or settings.MEDIA_ROOT)
    digest = hashlib.sha256()
    for path in sorted(base.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(base)).encode())
            digest.update(path.read_bytes())
    for model in (Study, Series, Instance):
        rows = list(model.objects.order_by("pk").values())
        digest.update(json.dumps(rows, default=str, sort_keys=True).encode())
    return digest.hexdigest()
