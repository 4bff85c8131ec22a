"""A consult's access grant, end to end (issue 15 items 1 and 2): only the patient's home
institution requests consults about the patient; the grant goes to the people on the consult,
never their whole institution; it always ends, and the invited side's view of the consult ends
with it."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from consult.errors import ConsultError
from consult.models import ConsultRequest, Status, TargetKind
from consult.services import (
    Assignment,
    ConsultDraft,
    consult_claim,
    consult_grants_sync,
    consult_request_create,
    consult_submit,
    consult_transition,
)
from imaging.models import IngestSource, Study
from imaging.selectors import studies_visible_to
from server.access import Action, NotFound, actor_for, patient_permits, patients_visible_to
from server.accounts.models import User
from server.directory.models import AccessGrant, Specialty
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult, practitioner_of
from tests.factories import PASSWORD, DepartmentFactory


def _client(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _draft(world: World) -> ConsultDraft:
    return ConsultDraft(
        patient_id=world.patient.pk,
        kind="consult",
        mode="offline",
        urgency="routine",
        reason="胸痛",
        purpose="明确诊断",
        clinical_summary="胸片示右下肺阴影",
        wanted_specialty=Specialty.RADIOLOGY,
        minimum_title="attending",
        target_kind=TargetKind.CONSULT_CENTRE,
        consent_signer="王秀英",
        consent_relation="self",
        consent_method="electronic",
    )


def _study(world: World) -> Study:
    return Study.objects.create(
        study_instance_uid="1.2.826.0.1.3680043.8.498.915",
        institution=world.township,
        patient=world.patient,
        source=IngestSource.STOW,
    )


def _reads_anything(user: User, consult: ConsultRequest, study: Study) -> list[str]:
    """What of the patient the user still reads, by every door the attack used."""
    actor = actor_for(user)
    client = _client(user)
    seen = []
    if patient_permits(actor, Action.VIEW, consult.patient):
        seen.append("patient")
    if studies_visible_to(actor).filter(pk=study.pk).exists():
        seen.append("study")
    if client.get(f"/consults/{consult.pk}/").status_code != 404:
        seen.append("consult page")
    if client.get(f"/api/v1/consults/{consult.pk}/fhir/").status_code != 404:
        seen.append("FHIR view")
    return seen


def test_a_temporary_grant_does_not_make_itself_permanent(world: World) -> None:
    """The attack of issue 15: while consult 1 (township -> county) is open, a county doctor
    not on it requests consult 3 for the patient; then consult 1 closes."""
    study = _study(world)
    consult_1 = make_consult(world, Status.ASSIGNED)
    city_doctor = add_specialist(world, "city_doctor").user
    # Before issue 15 the whole county hospital held consult 1's grant.
    AccessGrant.objects.create(
        patient=world.patient,
        institution=world.county,
        source_type="consult",
        source_id=str(consult_1.pk),
        reason="as before issue 15",
    )
    with pytest.raises(ConsultError) as refused:
        consult_request_create(actor_user=city_doctor, draft=_draft(world))
    assert refused.value.field == "patient_id"
    # A consult 3 made before the fix, as the attack left it.
    consult_3 = make_consult(
        world,
        Status.DRAFT,
        inviting_institution=world.county,
        requester=practitioner_of(city_doctor),
        target_kind=TargetKind.CONSULT_CENTRE,
        target_practitioner=None,
    )
    consult_transition(
        consult_id=consult_1.pk, actor_user=world.clinic_doctor, to=Status.CANCELLED, reason="好转"
    )
    assert _reads_anything(city_doctor, consult_3, study) == []
    with pytest.raises(NotFound):
        consult_transition(consult_id=consult_3.pk, actor_user=city_doctor, to=Status.SUBMITTED)
    assert not AccessGrant.objects.filter(source_id=str(consult_3.pk)).exists()
    # The requesting home institution owns the patient and keeps everything.
    assert _reads_anything(world.clinic_doctor, consult_1, study) == [
        "patient",
        "study",
        "consult page",
        "FHIR view",
    ]


def test_the_grant_goes_to_the_people_on_the_consult_not_their_hospital(world: World) -> None:
    study = _study(world)
    consult = make_consult(world, Status.SUBMITTED)
    specialist_id = practitioner_of(world.specialist).pk
    consult_transition(
        consult_id=consult.pk,
        actor_user=world.coordinator,
        to=Status.ASSIGNED,
        assignment=Assignment(practitioner_ids=(specialist_id,), lead_id=specialist_id),
    )
    cardiology = DepartmentFactory.create(
        institution=world.county, name="心内科", specialty=Specialty.CARDIOLOGY
    )
    cardiologist = add_specialist(
        world, "cardiologist", specialty=Specialty.CARDIOLOGY, department=cardiology
    ).user
    assert _reads_anything(cardiologist, consult, study) == []
    assert not patients_visible_to(actor_for(cardiologist)).exists()
    assert _reads_anything(world.specialist, consult, study) == [
        "patient",
        "study",
        "consult page",
        "FHIR view",
    ]
    grants = AccessGrant.objects.filter(source_type="consult", source_id=str(consult.pk))
    assert [(g.user_id, g.institution_id) for g in grants] == [
        (world.specialist.pk, world.county.pk)
    ]


def test_the_department_queue_holds_the_grant_only_while_the_consult_is_queued(
    world: World,
) -> None:
    study = _study(world)
    radiology = DepartmentFactory.create(
        institution=world.county, name="放射科", specialty=Specialty.RADIOLOGY
    )
    member, other = (
        add_specialist(world, name, department=radiology).user for name in ("member", "other")
    )
    consult = make_consult(
        world,
        Status.DRAFT,
        target_kind=TargetKind.DEPARTMENT,
        target_department=radiology,
        target_practitioner=None,
    )
    consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    for user in (member, other):
        assert _reads_anything(user, consult, study) == [
            "patient",
            "study",
            "consult page",
            "FHIR view",
        ]
    consult_claim(consult_id=consult.pk, actor_user=member)
    assert _reads_anything(other, consult, study) == []
    assert "patient" in _reads_anything(member, consult, study)


def test_an_open_consults_grant_ends_unless_the_consult_moves(
    world: World, settings: object
) -> None:
    settings.ACCESS_GRANT_DAYS = 10  # type: ignore[attr-defined]  # pytest-django settings
    study = _study(world)
    consult = make_consult(world, Status.ASSIGNED)
    consult_grants_sync(consult=consult)
    grant = AccessGrant.objects.get(source_type="consult", source_id=str(consult.pk))
    assert grant.ends_at is not None
    assert grant.ends_at <= timezone.now() + timedelta(days=10)
    with time_machine.travel(timezone.now() + timedelta(days=9), tick=False):
        consult_transition(consult_id=consult.pk, actor_user=world.specialist, to=Status.ACCEPTED)
    with time_machine.travel(timezone.now() + timedelta(days=11), tick=False):
        assert "patient" in _reads_anything(world.specialist, consult, study)
    with time_machine.travel(timezone.now() + timedelta(days=20), tick=False):
        assert _reads_anything(world.specialist, consult, study) == []
        assert _reads_anything(world.clinic_doctor, consult, study) == [
            "patient",
            "study",
            "consult page",
            "FHIR view",
        ]
