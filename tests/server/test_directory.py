"""Patient registration, duplicate detection and review, and the directory API."""

from datetime import date

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from server.access import NotFound, actor_for
from server.audit.models import AuditEvent, AuditOutcome
from server.directory.errors import DuplicateAlreadyReviewed, NotAllowed, PatientAlreadyRegistered
from server.directory.models import DuplicateReason, DuplicateStatus, Patient, PatientDuplicate
from server.directory.selectors import duplicates_open_count, duplicates_open_for_review
from server.directory.services import national_id_hash, patient_duplicate_resolve, patient_register
from server.notifications.models import Notification
from tests.conftest import World
from tests.factories import PASSWORD, PatientFactory

NATIONAL_ID = "51032219520418002X"


def test_national_id_is_stored_only_as_a_keyed_hash(world: World) -> None:
    registration = patient_register(
        user=world.clinic_doctor,
        name="李梅",
        sex="female",
        birth_date=date(1952, 4, 18),
        national_id=NATIONAL_ID,
    )
    patient = Patient.objects.get(pk=registration.patient.pk)
    assert patient.national_id_hash == national_id_hash("51032219520418002x")
    assert NATIONAL_ID not in str(Patient.objects.filter(pk=patient.pk).values().get()).upper()


def test_same_national_id_at_the_same_clinic_is_refused_and_names_the_record(
    world: World,
) -> None:
    first = patient_register(
        user=world.clinic_doctor,
        name="李梅",
        sex="female",
        birth_date=date(1952, 4, 18),
        national_id=NATIONAL_ID,
    )
    with pytest.raises(PatientAlreadyRegistered) as refused:
        patient_register(
            user=world.clinic_doctor,
            name="李梅",
            sex="female",
            birth_date=date(1952, 4, 18),
            national_id=NATIONAL_ID.lower(),
        )
    assert refused.value.patient_id == first.patient.pk
    assert Patient.objects.filter(name="李梅").count() == 1
    assert not PatientDuplicate.objects.exists()


def test_same_national_id_elsewhere_is_refused_without_naming_the_hidden_record(
    world: World,
) -> None:
    # Before the national ID was a hard identity, this registered a second record and only
    # flagged it for a coordinator (the behaviour changed deliberately).
    first = patient_register(
        user=world.clinic_doctor,
        name="李梅",
        sex="female",
        birth_date=date(1952, 4, 18),
        national_id=NATIONAL_ID,
    )
    with pytest.raises(PatientAlreadyRegistered) as refused:
        patient_register(
            user=world.other_clinic_doctor,
            name="李 梅",
            sex="female",
            birth_date=date(1952, 4, 19),
            national_id=NATIONAL_ID.lower(),
        )
    assert refused.value.patient_id is None
    message = refused.value.message
    assert "协调员" in message
    for detail in ("李梅", world.township.name, str(first.patient.pk), "1952"):
        assert detail not in message
    assert Patient.objects.count() == 2  # the world's patient and the first registration
    # The probe is in the trail of the institution whose record it concerns.
    denied = AuditEvent.objects.get(event="patient.register", outcome=AuditOutcome.DENIED)
    assert (denied.patient_id, denied.patient_institution_id, denied.actor_id) == (
        first.patient.pk,
        world.township.pk,
        world.other_clinic_doctor.pk,
    )


def test_same_national_id_as_a_merged_record_points_to_the_current_one(world: World) -> None:
    merged = PatientFactory.create(
        home_institution=world.township,
        national_id_hash=national_id_hash(NATIONAL_ID),
        merged_into=world.patient,
    )
    with pytest.raises(PatientAlreadyRegistered) as refused:
        patient_register(
            user=world.clinic_doctor,
            name=merged.name,
            sex="female",
            birth_date=merged.birth_date,
            national_id=NATIONAL_ID,
        )
    assert refused.value.patient_id == world.patient.pk


def test_database_refuses_two_current_records_with_one_national_id(world: World) -> None:
    hashed = national_id_hash(NATIONAL_ID)
    PatientFactory.create(home_institution=world.township, national_id_hash=hashed)
    # A merged-away record keeps its hash; records without a number never clash.
    PatientFactory.create(
        home_institution=world.township, national_id_hash=hashed, merged_into=world.patient
    )
    PatientFactory.create(home_institution=world.township, national_id_hash="")
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory.create(home_institution=world.other_township, national_id_hash=hashed)


def test_same_health_card_is_flagged_and_coordinators_are_notified(world: World) -> None:
    patient_register(
        user=world.clinic_doctor,
        name="李梅",
        sex="female",
        birth_date=date(1952, 4, 18),
        health_card_number="HC-1",
    )
    second = patient_register(
        user=world.other_clinic_doctor,
        name="李 梅",
        sex="female",
        birth_date=date(1952, 4, 19),
        health_card_number="HC-1",
    )
    assert [d.reason for d in second.duplicates] == [DuplicateReason.SAME_HEALTH_CARD]
    assert list(Notification.objects.values_list("recipient_id", flat=True)) == [
        world.coordinator.pk
    ]


def test_same_name_birth_date_and_sex_is_flagged(world: World) -> None:
    registration = patient_register(
        user=world.other_clinic_doctor, name="王秀英", sex="female", birth_date=date(1958, 3, 14)
    )
    assert [(d.existing_patient_id, d.reason) for d in registration.duplicates] == [
        (world.patient.pk, DuplicateReason.SAME_DEMOGRAPHICS)
    ]


def test_a_different_person_is_not_flagged(world: World) -> None:
    registration = patient_register(
        user=world.clinic_doctor, name="王秀英", sex="female", birth_date=date(1961, 3, 14)
    )
    assert registration.duplicates == []


def test_coordinators_and_admins_cannot_register_patients(world: World) -> None:
    for user in (world.coordinator, world.institution_admin):
        with pytest.raises(NotAllowed):
            patient_register(user=user, name="某人", sex="male", birth_date=date(1990, 1, 1))


def test_coordinator_merges_a_duplicate_into_the_existing_record(world: World) -> None:
    registration = patient_register(
        user=world.other_clinic_doctor, name="王秀英", sex="female", birth_date=date(1958, 3, 14)
    )
    duplicate = registration.duplicates[0]
    patient_duplicate_resolve(user=world.coordinator, duplicate_id=duplicate.pk, merge=True)
    duplicate.refresh_from_db()
    assert duplicate.status == DuplicateStatus.MERGED
    assert Patient.objects.get(pk=registration.patient.pk).merged_into_id == world.patient.pk
    assert AuditEvent.objects.filter(event="patient.merge", patient_id=registration.patient.pk)
    with pytest.raises(DuplicateAlreadyReviewed):
        patient_duplicate_resolve(user=world.coordinator, duplicate_id=duplicate.pk, merge=False)


def test_only_coordinators_of_the_consortium_review_duplicates(world: World) -> None:
    registration = patient_register(
        user=world.other_clinic_doctor, name="王秀英", sex="female", birth_date=date(1958, 3, 14)
    )
    for user in (
        world.clinic_doctor,
        world.specialist,
        world.institution_admin,
        world.foreign_doctor,
    ):
        with pytest.raises(NotFound):
            patient_duplicate_resolve(
                user=user, duplicate_id=registration.duplicates[0].pk, merge=True
            )
    assert PatientDuplicate.objects.get().status == DuplicateStatus.OPEN


def test_api_lists_only_visible_patients_with_pagination(world: World) -> None:
    for n in range(3):
        patient_register(
            user=world.clinic_doctor, name=f"病人{n}", sex="male", birth_date=date(1980, 1, n + 1)
        )
    client = Client()
    client.login(username="clinic", password=PASSWORD)
    body = client.get("/api/v1/patients/?limit=2&offset=1").json()
    assert (body["count"], body["limit"], body["offset"], len(body["results"])) == (4, 2, 1, 2)
    client.login(username="other_clinic", password=PASSWORD)
    assert client.get("/api/v1/patients/").json()["count"] == 0


def test_api_registration_names_the_bad_field(world: World) -> None:
    client = Client()
    client.login(username="clinic", password=PASSWORD)
    response = client.post(
        "/api/v1/patients/",
        {"name": "张三", "sex": "male", "birth_date": "1970-13-01", "national_id": "123"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"birth_date", "national_id"}
    assert not Patient.objects.filter(name="张三").exists()


def test_api_registration_reports_suspected_duplicates(world: World) -> None:
    client = Client()
    client.login(username="other_clinic", password=PASSWORD)
    response = client.post(
        "/api/v1/patients/",
        {"name": "王秀英", "sex": "female", "birth_date": "1958-03-14"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["suspected_duplicate_count"] == 1


def test_api_registration_of_a_registered_national_id_is_a_409(world: World) -> None:
    patient_register(
        user=world.clinic_doctor,
        name="李梅",
        sex="female",
        birth_date=date(1952, 4, 18),
        national_id=NATIONAL_ID,
    )
    body = {"name": "李梅", "sex": "female", "birth_date": "1952-04-18", "national_id": NATIONAL_ID}
    client = Client()
    client.login(username="clinic", password=PASSWORD)
    mine = client.post("/api/v1/patients/", body, content_type="application/json")
    client.login(username="other_clinic", password=PASSWORD)
    theirs = client.post("/api/v1/patients/", body, content_type="application/json")
    existing = Patient.objects.get(name="李梅")
    assert (mine.status_code, mine.json()["patient_id"]) == (409, existing.pk)
    assert theirs.status_code == 409
    assert set(theirs.json()) == {"national_id"}
    assert Patient.objects.filter(name="李梅").count() == 1


def test_api_bad_paging_parameter_is_a_clear_400(world: World) -> None:
    client = Client()
    client.login(username="clinic", password=PASSWORD)
    response = client.get("/api/v1/patients/?limit=abc")
    assert response.status_code == 400
    assert "limit" in response.json()


def test_duplicate_review_list_is_audited_with_both_patients(world: World) -> None:
    registration = patient_register(
        user=world.other_clinic_doctor, name="王秀英", sex="female", birth_date=date(1958, 3, 14)
    )
    actor = actor_for(world.coordinator)
    assert actor is not None
    assert duplicates_open_count(actor=actor) == 1
    reviewed = duplicates_open_for_review(user=world.coordinator, actor=actor)
    assert [d.new_patient_id for d in reviewed] == [registration.patient.pk]
    event = AuditEvent.objects.get(event="patient.duplicate_review")
    assert event.detail["patient_ids"] == sorted([world.patient.pk, registration.patient.pk])


def test_duplicate_review_list_is_empty_for_non_coordinators(world: World) -> None:
    patient_register(
        user=world.other_clinic_doctor, name="王秀英", sex="female", birth_date=date(1958, 3, 14)
    )
    actor = actor_for(world.clinic_doctor)
    assert actor is not None
    assert duplicates_open_for_review(user=world.clinic_doctor, actor=actor) == []
    assert duplicates_open_count(actor=actor) == 0
