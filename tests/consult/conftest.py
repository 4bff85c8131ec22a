"""Consult fixtures: a consult in any status, built directly for the test's starting point."""

from datetime import date
from typing import Any

import pytest
from django.utils import timezone

from consult.models import (
    ConsentMethod,
    ConsentRelation,
    ConsultParticipant,
    ConsultRequest,
    Kind,
    Mode,
    Opinion,
    OpinionVersion,
    SpecialistDuty,
    Status,
    TargetKind,
    Urgency,
)
from consult.services import consult_grants_sync
from server.accounts.models import User
from server.directory.models import Practitioner, Role, Specialty, Title
from tests.conftest import World
from tests.factories import PractitionerFactory

ASSIGNED_OR_LATER = {
    Status.ASSIGNED,
    Status.ACCEPTED,
    Status.SCHEDULED,
    Status.UNDER_REVIEW,
    Status.IN_SESSION,
    Status.NEEDS_INFO,
    Status.OPINION_SIGNED,
    Status.CLOSED,
}


def practitioner_of(user: User) -> Practitioner:
    return Practitioner.objects.get(user=user)


def make_consult(world: World, status: Status = Status.DRAFT, **fields: Any) -> ConsultRequest:
    """A consult from the township doctor to the county specialist, placed in `status`."""
    requester = practitioner_of(world.clinic_doctor)
    specialist = practitioner_of(world.specialist)
    values: dict[str, Any] = {
        "consortium_id": world.patient.consortium_id,
        "kind": Kind.CONSULT,
        "mode": Mode.OFFLINE,
        "urgency": Urgency.URGENT,
        "status": status,
        "patient": world.patient,
        "inviting_institution": world.township,
        "requester": requester,
        "reason": "反复胸痛",
        "purpose": "明确诊断",
        "clinical_summary": "胸片示右下肺阴影",
        "wanted_specialty": Specialty.RADIOLOGY,
        "minimum_title": Title.ATTENDING,
        "target_kind": TargetKind.SPECIALIST,
        "target_practitioner": specialist,
        "consent_signer": "王秀英",
        "consent_relation": ConsentRelation.SELF,
        "consent_method": ConsentMethod.ELECTRONIC,
        "consent_recorded_at": timezone.now(),
    }
    if status == Status.SCHEDULED:
        # A scheduled session has its time, and the test starts inside its join window.
        values["scheduled_start"] = timezone.now()
    values.update(fields)
    consult = ConsultRequest.objects.create(**values)
    if status in ASSIGNED_OR_LATER:
        ConsultParticipant.objects.create(consult=consult, practitioner=specialist, is_lead=True)
    if status == Status.NEEDS_INFO and not consult.paused_from:
        consult.paused_from = Status.ACCEPTED
        consult.save()
    if status in (Status.OPINION_SIGNED, Status.CLOSED):
        sign_directly(consult, specialist)
    # The grants its moves would have opened for the people on it.
    consult_grants_sync(consult=consult)
    return consult


def sign_directly(consult: ConsultRequest, signer: Practitioner) -> OpinionVersion:
    opinion, _ = Opinion.objects.get_or_create(consult=consult)
    return OpinionVersion.objects.create(
        opinion=opinion,
        number=opinion.versions.count() + 1,
        impression="右下肺炎",
        signed_by=signer,
        signed_at=timezone.now(),
        content_sha256="0" * 64,
    )


def add_specialist(
    world: World,
    username: str,
    *,
    specialty: Specialty = Specialty.RADIOLOGY,
    title: Title = Title.ATTENDING,
    since: date = date(2015, 1, 1),
    on_duty: bool = True,
    **fields: Any,
) -> Practitioner:
    practitioner = PractitionerFactory.create(
        institution=fields.pop("institution", world.county),
        user__username=username,
        role_list=[Role.SPECIALIST],
        specialty=specialty,
        title=title,
        independent_practice_since=since,
        **fields,
    )
    SpecialistDuty.objects.create(practitioner=practitioner, on_duty=on_duty)
    return practitioner


@pytest.fixture
def consult(world: World) -> ConsultRequest:
    return make_consult(world)
