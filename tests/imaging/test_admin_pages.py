"""The institution admin's studies page: listing, and deleting an erroneous study."""

import io
from pathlib import Path

import pydicom
import pytest
from django.test import Client
from django.urls import reverse

from imaging.errors import StudyDeleteReasonMissing
from imaging.models import IngestSource, Instance, Series, Study
from imaging.services import IngestStatus, instance_ingest, series_previews_render, study_delete
from server.access import NotFound
from server.accounts.models import User
from server.audit.models import AuditEvent, AuditOutcome
from server.directory.models import Institution, Role
from tests.conftest import World
from tests.factories import PractitionerFactory
from tests.imaging.conftest import dataset_bytes, for_patient, with_patient_id

pytestmark = pytest.mark.usefixtures("archive")
CARD = "HC-0007"
STUDIES = reverse("imaging_pages:studies")


def _store(institution: Institution, user: User, data: bytes) -> None:
    result = instance_ingest(
        data=data, source=IngestSource.STOW, institution=institution, user=user
    )
    assert result.status is IngestStatus.STORED, result.message


def _signed_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def _admin_of(institution: Institution, username: str) -> User:
    return PractitionerFactory.create(
        institution=institution, user__username=username, role_list=[Role.INSTITUTION_ADMIN]
    ).user


def _delete_url(study: Study) -> str:
    return reverse("imaging_pages:study_delete", args=[study.study_instance_uid])


@pytest.fixture
def stored(world: World) -> World:
    """The township holds a matched CT of two images and an unmatched MR; the west township
    holds a study of its own."""
    world.patient.health_card_number = CARD
    world.patient.save()
    ct = pydicom.dcmread(io.BytesIO(for_patient("CT_small.dcm", world.patient)))
    _store(world.township, world.clinic_doctor, dataset_bytes(ct))
    ct.SOPInstanceUID = ct.SOPInstanceUID + ".2"
    ct.InstanceNumber = 2
    _store(world.township, world.clinic_doctor, dataset_bytes(ct))
    _store(world.township, world.clinic_doctor, with_patient_id("MR_small_implicit.dcm", "NOBODY"))
    _store(world.other_township, world.other_clinic_doctor, with_patient_id("chrX1.dcm", "X"))
    return world


def _ct(world: World) -> Study:
    return Study.objects.get(patient=world.patient)


def test_study_list_shows_size_counts_source_preview_and_patient_link(stored: World) -> None:
    ct = _ct(stored)
    mr = Study.objects.get(institution=stored.township, patient__isnull=True)

    response = _signed_in(stored.institution_admin).get(STUDIES)

    assert response.status_code == 200
    rows = {row.study.pk: row for row in response.context["rows"]}
    assert set(rows) == {ct.pk, mr.pk}
    assert (rows[ct.pk].study.series_count, rows[ct.pk].study.instance_count) == (1, 2)
    html = response.content.decode()
    assert f'id="study-{ct.pk}"' in html
    assert "DICOMweb STOW-RS" in html
    assert "Waiting for a worker" in html  # no worker has rendered the previews yet
    assert "Linked" in html
    assert reverse("imaging_pages:reconcile_study", args=[mr.pk]) in html
    assert _delete_url(ct) in html
    listing = AuditEvent.objects.get(event="imaging.study.list")
    assert sorted(listing.detail["study_ids"]) == sorted([ct.pk, mr.pk])


def test_study_list_is_paginated(world: World) -> None:
    for number in range(26):
        Study.objects.create(
            study_instance_uid=f"1.2.826.0.1.3680043.10.543.{number}",
            institution=world.township,
            source=IngestSource.DIMSE,
        )
    client = _signed_in(world.institution_admin)

    first = client.get(STUDIES)
    second = client.get(STUDIES, {"page": 2})

    assert len(first.context["rows"]) == 25
    assert len(second.context["rows"]) == 1
    assert first.context["pager"].num_pages == 2
    assert "DICOM C-STORE" in second.content.decode()


@pytest.mark.parametrize("who", ["clinic_doctor", "coordinator", "specialist"])
def test_study_list_is_not_found_for_anyone_but_institution_admins(stored: World, who: str) -> None:
    assert _signed_in(getattr(stored, who)).get(STUDIES).status_code == 404


def test_study_delete_removes_rows_and_files_and_keeps_an_audit_record(
    stored: World, archive: Path, django_capture_on_commit_callbacks: object
) -> None:
    ct = _ct(stored)
    series = Series.objects.get(study=ct)
    series_previews_render(series_id=series.pk)
    series.refresh_from_db()
    instances = list(Instance.objects.filter(study=ct).order_by("pk"))
    files = [archive / i.storage_name for i in instances]
    files += [archive / series.thumbnail_name, archive / series.preview_name]
    assert all(path.is_file() for path in files)
    others = list(Instance.objects.exclude(study=ct))
    client = _signed_in(stored.institution_admin)
    assert ct.study_instance_uid in client.get(_delete_url(ct)).content.decode()

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = client.post(
            _delete_url(ct), {"reason": "Sent for the wrong patient", "confirm": "on"}
        )

    assert response.status_code == 302
    assert response["Location"] == STUDIES
    assert not Study.objects.filter(pk=ct.pk).exists()
    assert not Series.objects.filter(pk=series.pk).exists()
    assert not Instance.objects.filter(pk__in=[i.pk for i in instances]).exists()
    assert not any(path.exists() for path in files)
    assert all((archive / i.storage_name).is_file() for i in others)
    event = AuditEvent.objects.get(event="imaging.study.delete")
    assert event.outcome == AuditOutcome.SUCCESS
    assert event.patient_id == stored.patient.pk
    assert event.detail["reason"] == "Sent for the wrong patient"
    assert event.detail["study_instance_uid"] == ct.study_instance_uid
    assert event.detail["series_instance_uids"] == [series.series_instance_uid]
    assert event.detail["instances"] == [
        {
            "sop_instance_uid": i.sop_instance_uid,
            "sha256": i.sha256,
            "dataset_sha256": i.dataset_sha256,
        }
        for i in instances
    ]


def test_study_delete_keeps_a_file_another_instance_still_uses(
    stored: World, archive: Path, django_capture_on_commit_callbacks: object
) -> None:
    ct = _ct(stored)
    shared = Instance.objects.filter(study=ct).first()
    assert shared is not None
    # Content-addressed: another study's instance may name the very same file.
    Instance.objects.filter(study__institution=stored.other_township).update(
        storage_name=shared.storage_name
    )

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        study_delete(user=stored.institution_admin, study_uid=ct.study_instance_uid, reason="dup")

    assert (archive / shared.storage_name).is_file()


def test_study_delete_needs_a_reason_and_a_confirmation(stored: World) -> None:
    ct = _ct(stored)
    client = _signed_in(stored.institution_admin)

    no_reason = client.post(_delete_url(ct), {"reason": " ", "confirm": "on"})
    unconfirmed = client.post(_delete_url(ct), {"reason": "Wrong patient"})

    assert no_reason.status_code == unconfirmed.status_code == 200
    assert no_reason.context["form"].errors.keys() == {"reason"}
    assert unconfirmed.context["form"].errors.keys() == {"confirm"}
    assert Study.objects.filter(pk=ct.pk).exists()
    with pytest.raises(StudyDeleteReasonMissing):
        study_delete(user=stored.institution_admin, study_uid=ct.study_instance_uid, reason=" ")


@pytest.mark.parametrize("who", ["other_admin", "coordinator", "clinic_doctor"])
def test_study_delete_is_not_found_for_those_who_may_not_manage_the_study(
    stored: World, archive: Path, who: str
) -> None:
    ct = _ct(stored)
    user = (
        _admin_of(stored.other_township, "west_admin")
        if who == "other_admin"
        else getattr(stored, who)
    )
    client = _signed_in(user)
    before = sorted(str(path) for path in archive.rglob("*"))

    page = client.get(_delete_url(ct))
    post = client.post(_delete_url(ct), {"reason": "Not mine", "confirm": "on"})

    assert page.status_code == post.status_code == 404
    assert Instance.objects.filter(study=ct).count() == 2
    assert sorted(str(path) for path in archive.rglob("*")) == before
    with pytest.raises(NotFound):
        study_delete(user=user, study_uid=ct.study_instance_uid, reason="Not mine")
    denied = AuditEvent.objects.filter(event="imaging.study.delete", outcome=AuditOutcome.DENIED)
    assert denied.count() == 1  # the view's POST is refused before the service runs
