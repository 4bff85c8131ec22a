"""Department queues: a queued consult waits for a claim, and who may claim it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consult.errors import ConsultError
from consult.models import ConsultRequest, Status, TargetKind
from consult.services import consult_claim, consult_submit
from server.access import NotFound
from server.directory.models import Department, Specialty
from server.notifications.models import Notification, NotificationKind
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult
from tests.factories import DepartmentFactory


def _radiology(world: World) -> Department:
    return DepartmentFactory.create(
        institution=world.county, name="放射科", specialty=Specialty.RADIOLOGY
    )


def _queued(world: World, department: Department) -> ConsultRequest:
    consult = make_consult(
        world,
        target_kind=TargetKind.DEPARTMENT,
        target_department=department,
        target_practitioner=None,
    )
    return consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)


def _lead(consult: ConsultRequest) -> int:
    return consult.participants.get(ended_at__isnull=True, is_lead=True).practitioner_id


def test_department_queue_waits_for_a_claim_and_tells_its_specialists(world: World) -> None:
    department = _radiology(world)
    member = add_specialist(world, "queue_member", department=department)
    consult = _queued(world, department)
    assert consult.status == Status.SUBMITTED
    assert Notification.objects.filter(
        recipient=member.user, kind=NotificationKind.CONSULT_QUEUED
    ).exists()


def test_specialist_claims_a_consult_from_their_department_queue(world: World) -> None:
    department = _radiology(world)
    member = add_specialist(world, "queue_member", department=department)
    consult = _queued(world, department)
    claimed = consult_claim(consult_id=consult.pk, actor_user=member.user)
    assert (claimed.status, _lead(claimed)) == (Status.ASSIGNED, member.pk)
    assert claimed.events.values_list("to_status", "actor_id").last() == (
        Status.ASSIGNED,
        member.user.pk,
    )


def test_a_claimed_consult_cannot_be_claimed_again(world: World) -> None:
    department = _radiology(world)
    first = add_specialist(world, "first", department=department)
    second = add_specialist(world, "second", department=department)
    consult = _queued(world, department)
    consult_claim(consult_id=consult.pk, actor_user=first.user)
    # Once assigned, the consult left the queue: the second specialist no longer sees it.
    with pytest.raises(NotFound):
        consult_claim(consult_id=consult.pk, actor_user=second.user)
    assert _lead(consult) == first.pk


def test_a_specialist_of_another_department_cannot_claim(world: World) -> None:
    department = _radiology(world)
    other = DepartmentFactory.create(
        institution=world.county, name="心内科", specialty=Specialty.RADIOLOGY
    )
    outsider = add_specialist(world, "outsider", department=other)
    consult = _queued(world, department)
    with pytest.raises(NotFound):
        consult_claim(consult_id=consult.pk, actor_user=outsider.user)
    consult.refresh_from_db()
    assert consult.status == Status.SUBMITTED


def test_a_queue_member_without_the_qualifications_cannot_claim(world: World) -> None:
    department = _radiology(world)
    junior = add_specialist(
        world, "junior", department=department, since=timezone.localdate() - timedelta(days=400)
    )
    consult = _queued(world, department)
    with pytest.raises(ConsultError) as refused:
        consult_claim(consult_id=consult.pk, actor_user=junior.user)
    assert refused.value.field == "practitioner_ids"
