"""Reconciliation: unmatched studies are listed for coordinators and their institution's admins,
and linking one to a patient makes it visible by the patient's rules."""

import pytest
from django.test import Client
from django.urls import reverse

from imaging.models import IngestSource, Study, ViewingKind, study_subject
from imaging.selectors import studies_to_reconcile, study_get_for_user
from imaging.services import IngestStatus, instance_ingest, study_patient_link
from server.access import Action, NotFound, actor_for, study_permits
from server.accounts.models import User
from server.audit.models import AuditEvent
from server.directory.models import Patient, Role
from tests.conftest import World
from tests.factories import PatientFactory, PractitionerFactory
from tests.imaging.conftest import with_patient_id

pytestmark = pytest.mark.usefixtures("archive")
RECONCILE = reverse("imaging_pages:reconcile")


def _signed_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def _link_url(study: Study) -> str:
    return reverse("imaging_pages:reconcile_study", args=[study.pk])


@pytest.fixture
def unmatched(world: World) -> Study:
    """A township CT whose PatientID matches no consortium patient."""
    result = instance_ingest(
        data=with_patient_id("CT_small.dcm", "UNKNOWN-17"),
        source=IngestSource.STOW,
        institution=world.township,
        user=world.clinic_doctor,
    )
    assert result.status is IngestStatus.STORED
    return Study.objects.get(patient__isnull=True)


@pytest.fixture
def west_patient(world: World) -> Patient:
    return PatientFactory.create(
        home_institution=world.other_township, name="李建国", health_card_number="HC-WEST"
    )


def _west_admin(world: World) -> User:
    return PractitionerFactory.create(
        institution=world.other_township,
        user__username="west_admin",
        role_list=[Role.INSTITUTION_ADMIN],
    ).user


def _visible_to(user: User, study: Study) -> bool:
    try:
        study_get_for_user(
            user=user, study_uid=study.study_instance_uid, session="s", kind=ViewingKind.RETRIEVE
        )
    except NotFound:
        return False
    return True


@pytest.mark.parametrize("who", ["coordinator", "institution_admin"])
def test_unmatched_study_is_listed_for_coordinators_and_its_institution_admins(
    world: World, unmatched: Study, who: str
) -> None:
    response = _signed_in(getattr(world, who)).get(RECONCILE)

    assert response.status_code == 200
    assert [row.study.pk for row in response.context["rows"]] == [unmatched.pk]
    assert "UNKNOWN-17" in response.content.decode()
    listing = AuditEvent.objects.get(event="imaging.study.reconcile_list")
    assert listing.detail["study_ids"] == [unmatched.pk]


def test_reconcile_list_hides_other_institutions_studies_and_refuses_clinicians(
    world: World, unmatched: Study
) -> None:
    west = _signed_in(_west_admin(world))
    assert west.get(RECONCILE).context["rows"] == []
    assert west.get(_link_url(unmatched)).status_code == 404
    assert _signed_in(world.clinic_doctor).get(RECONCILE).status_code == 404
    assert _signed_in(world.clinic_doctor).get(_link_url(unmatched)).status_code == 404


def test_coordinator_links_a_study_which_leaves_the_list_and_follows_the_patient(
    world: World, unmatched: Study, west_patient: Patient
) -> None:
    client = _signed_in(world.coordinator)
    assert not _visible_to(world.other_clinic_doctor, unmatched)

    found = client.get(_link_url(unmatched), {"q": "李建国"})
    response = client.post(_link_url(unmatched), {"patient_id": west_patient.pk})

    assert list(found.context["patients"]) == [west_patient]
    search = AuditEvent.objects.get(event="patient.search")
    assert search.detail["patient_ids"] == [west_patient.pk]
    assert response.status_code == 302
    assert response["Location"] == RECONCILE
    unmatched.refresh_from_db()
    assert unmatched.patient_id == west_patient.pk
    assert client.get(RECONCILE).context["rows"] == []
    assert _visible_to(world.other_clinic_doctor, unmatched)
    link = AuditEvent.objects.get(event="imaging.study.link")
    assert (link.resource_id, link.patient_id) == (str(unmatched.pk), west_patient.pk)
    assert client.get(_link_url(unmatched)).status_code == 404


def test_institution_admin_links_only_to_patients_it_may_see(
    world: World, unmatched: Study, west_patient: Patient
) -> None:
    client = _signed_in(world.institution_admin)

    refused = client.post(_link_url(unmatched), {"patient_id": west_patient.pk})
    linked = client.post(_link_url(unmatched), {"patient_id": world.patient.pk})

    assert refused.status_code == 404
    assert linked.status_code == 302
    unmatched.refresh_from_db()
    assert unmatched.patient_id == world.patient.pk


def test_linking_a_study_someone_already_linked_says_so(
    world: World, unmatched: Study, west_patient: Patient
) -> None:
    client = _signed_in(world.coordinator)
    client.post(_link_url(unmatched), {"patient_id": west_patient.pk})

    again = client.post(_link_url(unmatched), {"patient_id": world.patient.pk}, follow=True)

    assert "already linked" in again.content.decode()
    unmatched.refresh_from_db()
    assert unmatched.patient_id == west_patient.pk


def test_linking_without_a_patient_shows_the_page_again(world: World, unmatched: Study) -> None:
    response = _signed_in(world.coordinator).post(_link_url(unmatched), {"patient_id": ""})

    assert response.status_code == 200
    assert "Choose a patient" in response.content.decode()
    unmatched.refresh_from_db()
    assert unmatched.patient_id is None


def test_the_reconcile_pages_show_dicom_dates_as_days(world: World, unmatched: Study) -> None:
    Study.objects.filter(pk=unmatched.pk).update(patient_birth_date="19700315")
    client = _signed_in(world.coordinator)

    listing = client.get(RECONCILE).content.decode()
    one = client.get(_link_url(unmatched)).content.decode()

    for html in (listing, one):
        assert "2004-01-19" in html
        assert "1970-03-15" in html
        assert "19700315" not in html


def test_the_studies_to_reconcile_are_those_the_policy_lets_each_user_update(
    world: World, unmatched: Study
) -> None:
    users = [
        world.clinic_doctor,
        world.other_clinic_doctor,
        world.specialist,
        world.coordinator,
        world.institution_admin,
        world.foreign_doctor,
        _west_admin(world),
    ]
    subject = study_subject(unmatched)
    for user in users:
        listed = studies_to_reconcile(user=user).filter(pk=unmatched.pk).exists()
        assert listed is study_permits(actor_for(user), Action.UPDATE, subject), user.username


def test_the_reconcile_pages_say_in_words_why_a_study_is_unmatched(
    world: World, unmatched: Study
) -> None:
    client = _signed_in(world.coordinator)
    reason = "No patient the storer may see has this health card number."
    assert reason in client.get(RECONCILE).content.decode()
    assert reason in client.get(_link_url(unmatched)).content.decode()

    chinese = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    chinese.force_login(world.coordinator)
    assert "上传方可见的患者中没有此健康卡号。" in chinese.get(RECONCILE).content.decode()


def test_linking_a_study_clears_why_it_was_unmatched(
    world: World, unmatched: Study, west_patient: Patient
) -> None:
    assert unmatched.unmatched_reason
    study_patient_link(user=world.coordinator, study_id=unmatched.pk, patient_id=west_patient.pk)
    unmatched.refresh_from_db()
    assert (unmatched.patient_id, unmatched.unmatched_reason) == (west_patient.pk, "")
