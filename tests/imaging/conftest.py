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
