"""The image viewer page and its series preview: access, audit and the embedded configuration."""

import json
import re
from pathlib import Path

import pytest
from django.test import Client

from imaging.models import IngestSource, Series
from imaging.services import IngestStatus, instance_ingest, series_previews_render
from server.accounts.models import User
from server.audit.models import AuditEvent, AuditOutcome
from tests.conftest import World
from tests.imaging.conftest import for_patient

pytestmark = pytest.mark.usefixtures("archive")
CARD = "HC-0066"
CONFIG = re.compile(r'<script id="viewer-config" type="application/json">(.*?)</script>', re.S)


@pytest.fixture
def carded(world: World) -> World:
    world.patient.health_card_number = CARD
    world.patient.save()
    return world


def _store(world: World, name: str, **changes: str) -> Series:
    result = instance_ingest(
        data=for_patient(name, world.patient, **changes),
        source=IngestSource.STOW,
        institution=world.township,
        user=world.clinic_doctor,
    )
    assert result.status is IngestStatus.STORED, result.message
    return Series.objects.select_related("study").get(
        series_instance_uid=result.series_instance_uid
    )


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _viewer_url(series: Series) -> str:
    return f"/imaging/studies/{series.study.study_instance_uid}/view/"


def _reads(user: User, outcome: AuditOutcome) -> int:
    return AuditEvent.objects.filter(
        event="imaging.study.read", actor_id=user.pk, outcome=outcome
    ).count()


def test_viewer_page_embeds_the_study_and_audits_one_read_per_session(
    carded: World, archive: Path
) -> None:
    series = _store(
        carded, "CT_small.dcm", PatientBirthDate="19640310", StudyDate="20260115", PatientSex="F"
    )
    series_previews_render(series_id=series.pk)
    series.refresh_from_db()
    doctor = _client(carded.clinic_doctor)

    response = doctor.get(_viewer_url(series))

    assert response.status_code == 200
    match = CONFIG.search(response.content.decode())
    assert match is not None
    config = json.loads(match.group(1))
    study_uid = series.study.study_instance_uid
    assert config["studyInstanceUid"] == study_uid
    assert config["dicomwebRoot"] == "/dicomweb"
    assert config["consultId"] is None
    assert config["patient"] == {"name": "王秀英", "id": CARD, "sex": "女", "age": "61 岁"}
    assert config["study"]["date"] == "2026-01-15"
    (entry,) = config["series"]
    assert entry["seriesInstanceUid"] == series.series_instance_uid
    assert entry["modality"] == "CT"
    assert entry["previewUrl"] == (
        f"/imaging/studies/{study_uid}/series/{series.series_instance_uid}/preview/"
    )
    assert config["labels"]["preview"] == "预览 · 不可用于诊断"
    assert config["labels"]["diagnostic"] == "诊断"

    # The page, its preview and the DICOMweb requests it makes are one viewing session.
    assert doctor.get(_viewer_url(series)).status_code == 200
    preview = doctor.get(entry["previewUrl"])
    assert preview.status_code == 200
    assert preview["Content-Type"] == "image/jpeg"
    assert preview.content == (archive / series.preview_name).read_bytes()
    metadata = doctor.get(
        f"/dicomweb/studies/{study_uid}/series/{series.series_instance_uid}/metadata"
    )
    assert metadata.status_code == 200
    assert _reads(carded.clinic_doctor, AuditOutcome.SUCCESS) == 1


def test_preview_waits_for_the_ingest_rendering_and_the_page_falls_back_to_rendering(
    carded: World,
) -> None:
    series = _store(carded, "MR_small.dcm")
    doctor = _client(carded.clinic_doctor)
    study_uid = series.study.study_instance_uid

    preview_url = f"/imaging/studies/{study_uid}/series/{series.series_instance_uid}/preview/"
    assert doctor.get(preview_url).status_code == 404
    match = CONFIG.search(doctor.get(_viewer_url(series)).content.decode())
    assert match is not None
    (entry,) = json.loads(match.group(1))["series"]
    assert entry["previewUrl"] == (
        f"/dicomweb/studies/{study_uid}/series/{series.series_instance_uid}"
        "/thumbnail?viewport=512,512"
    )


def test_unrelated_township_doctor_gets_404_and_the_refusal_is_audited(carded: World) -> None:
    series = _store(carded, "CT_small.dcm")
    series_previews_render(series_id=series.pk)
    stranger = _client(carded.other_clinic_doctor)
    study_uid = series.study.study_instance_uid

    assert stranger.get(_viewer_url(series)).status_code == 404
    preview_url = f"/imaging/studies/{study_uid}/series/{series.series_instance_uid}/preview/"
    assert stranger.get(preview_url).status_code == 404
    assert stranger.get("/imaging/studies/1.2.3.4/view/").status_code == 404
    assert _reads(carded.other_clinic_doctor, AuditOutcome.DENIED) == 3
    assert _reads(carded.other_clinic_doctor, AuditOutcome.SUCCESS) == 0


def test_viewer_page_requires_sign_in(carded: World) -> None:
    series = _store(carded, "CT_small.dcm")

    response = Client().get(_viewer_url(series))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_patient_page_leads_to_the_patients_studies_and_on_to_the_viewer(carded: World) -> None:
    series = _store(carded, "CT_small.dcm")
    doctor = _client(carded.clinic_doctor)
    studies_url = f"/imaging/patients/{carded.patient.pk}/studies/"

    detail = doctor.get(f"/patients/{carded.patient.pk}/")
    assert f'href="{studies_url}"' in detail.content.decode()
    listing = doctor.get(studies_url)

    assert listing.status_code == 200
    assert f'href="{_viewer_url(series)}"' in listing.content.decode()
    assert AuditEvent.objects.filter(
        event="imaging.study.list", actor_id=carded.clinic_doctor.pk
    ).exists()
    assert _client(carded.other_clinic_doctor).get(studies_url).status_code == 404
