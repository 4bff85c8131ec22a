"""Demo images for the demo consortium: real test images from the pydicom wheels, re-labelled
as a township patient's studies, and the township's digital radiography unit registered as a
calling AE title. Never real patient data."""

import io
from dataclasses import dataclass

import pydicom
from django.db import transaction
from pydicom.data import get_testdata_file

from imaging.models import CallingAETitle, IngestSource, Study
from imaging.services import instance_ingest
from server.accounts.models import User
from server.directory.models import Institution, Patient, Sex

DEMO_INSTITUTION = "dongba"
DEMO_UPLOADER = "dr.li"
DEMO_PATIENT_CARD = "HC-DB-0001"
DEMO_AE_TITLE = "DONGBA_DR"
# Fixed UID root (the pydicom organisation root plus a demo branch), so the demo is idempotent.
_UID_ROOT = "1.2.826.0.1.3680043.8.498.20261123."


@dataclass(frozen=True)
class DemoStudy:
    key: str  # the last UID component
    file: str  # a pydicom or pydicom-data test file
    description: str
    study_date: str


DEMO_STUDIES = [
    DemoStudy("1", "RG1_UNCR.dcm", "胸部正位 DR", "20261120"),
    DemoStudy("2", "CT_small.dcm", "胸部 CT 平扫", "20261121"),
    DemoStudy("3", "color3d_jpeg_baseline.dcm", "心脏超声", "20261122"),
]


@dataclass(frozen=True)
class DemoImagesResult:
    stored: list[str]
    skipped: list[str]
    ae_title: str


def _demo_instance(study: DemoStudy, patient: Patient) -> bytes:
    path = get_testdata_file(study.file, download=False)
    if path is None:
        raise LookupError(f"{study.file} is not installed (pydicom-data)")
    ds = pydicom.dcmread(str(path))
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = patient.name
    ds.PatientID = patient.health_card_number
    ds.PatientSex = "F" if patient.sex == Sex.FEMALE else "M"
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    ds.StudyInstanceUID = _UID_ROOT + study.key
    ds.SeriesInstanceUID = _UID_ROOT + study.key + ".1"
    ds.SOPInstanceUID = _UID_ROOT + study.key + ".1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyDescription = study.description
    ds.StudyDate = study.study_date
    ds.AccessionNumber = f"DEMO{study.study_date}{study.key}"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@transaction.atomic
def demo_images_seed() -> DemoImagesResult:
    """Store what is missing of the demo studies; run after the directory's demo seed."""
    institution = Institution.objects.get(code=DEMO_INSTITUTION)
    uploader = User.objects.get(username=DEMO_UPLOADER)
    patient = Patient.objects.get(
        consortium_id=institution.consortium_id, health_card_number=DEMO_PATIENT_CARD
    )
    CallingAETitle.objects.get_or_create(
        ae_title=DEMO_AE_TITLE,
        defaults={"institution": institution, "description": "东坝镇卫生院 DR (demo)"},
    )
    stored, skipped = [], []
    for study in DEMO_STUDIES:
        uid = _UID_ROOT + study.key
        if Study.objects.filter(study_instance_uid=uid).exists():
            skipped.append(study.description)
            continue
        result = instance_ingest(
            data=_demo_instance(study, patient),
            source=IngestSource.UPLOAD,
            institution=institution,
            user=uploader,
        )
        if not result.ok:
            raise RuntimeError(f"{study.file}: {result.message}")
        stored.append(study.description)
    return DemoImagesResult(stored=stored, skipped=skipped, ae_title=DEMO_AE_TITLE)
