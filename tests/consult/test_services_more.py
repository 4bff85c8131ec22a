"""Department queue claims, the sweep's expiry path and recording consent after a waiver."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consult.errors import ConsultError
from consult.models import (
    ConsentMethod,
    ConsentRelation,
    ConsultEvent,
    ConsultRequest,
    Status,
    TargetKind,
    Urgency,
)
from consult.services import (
    consult_claim,
    consult_consent_record,
    consult_deadlines_sweep,
    consult_submit,
)
from server.access import NotFound
from server.directory.models import Department, Specialty
from server.notifications.models import Notification, NotificationKind
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult
from tests.factories import DepartmentFactory

# --- Claiming from a department queue -------------------------------------------------------


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
        world,
        "junior",
        department=department,
        since=timezone.localdate() - timedelta(days=400),
    )
    consult = _queued(world, department)
    with pytest.raises(ConsultError) as refused:
        consult_claim(consult_id=consult.pk, actor_user=junior.user)
    assert refused.value.field == "practitioner_ids"


# --- The sweep's expiry path ----------------------------------------------------------------


def test_sweep_expires_an_unaccepted_consult_whose_window_ended(world: World) -> None:
    now = timezone.now()
    consult = make_consult(
        world,
        Status.ASSIGNED,
        preferred_start=now - timedelta(days=2),
        preferred_end=now - timedelta(minutes=1),
    )
    consult_deadlines_sweep(now=now)
    consult.refresh_from_db()
    assert consult.status == Status.EXPIRED
    event = ConsultEvent.objects.filter(consult=consult).last()
    assert event is not None
    assert (event.from_status, event.to_status, event.actor_id) == (
        Status.ASSIGNED,
        Status.EXPIRED,
        None,
    )
    for user in (world.clinic_doctor, world.specialist):
        assert Notification.objects.filter(
            recipient=user, kind=NotificationKind.CONSULT_WITHDRAWN
        ).exists()


@pytest.mark.parametrize(
    ("status", "ends_in"),
    [
        (Status.SUBMITTED, timedelta(hours=1)),  # window still open
        (Status.ACCEPTED, -timedelta(hours=1)),  # accepted in time: the window no longer binds
        (Status.NEEDS_INFO, -timedelta(hours=1)),  # paused
    ],
)
def test_sweep_leaves_consults_that_do_not_expire(
    world: World, status: Status, ends_in: timedelta
) -> None:
    now = timezone.now()
    consult = make_consult(
        world, status, preferred_start=now - timedelta(days=2), preferred_end=now + ends_in
    )
    consult_deadlines_sweep(now=now)
    consult.refresh_from_db()
    assert consult.status == status


# --- Recording consent ----------------------------------------------------------------------


def _waived(world: World) -> ConsultRequest:
    return make_consult(
        world,
        Status.SUBMITTED,
        urgency=Urgency.CRITICAL,
        consent_signer="",
        consent_relation="",
        consent_method="",
        consent_recorded_at=None,
        emergency_waiver=True,
        waiver_reason="患者昏迷且家属未到",
        consent_follow_up_due=True,
    )


def test_consent_recorded_after_a_waiver_ends_its_follow_up(world: World) -> None:
    consult = _waived(world)
    recorded = consult_consent_record(
        consult_id=consult.pk,
        actor_user=world.clinic_doctor,
        signer=" 李建国 ",
        relation=ConsentRelation.CHILD,
        method=ConsentMethod.ELECTRONIC,
    )
    assert (recorded.consent_signer, recorded.consent_relation, recorded.consent_method) == (
        "李建国",
        ConsentRelation.CHILD,
        ConsentMethod.ELECTRONIC,
    )
    assert recorded.consent_recorded_at is not None
    assert recorded.consent_follow_up_due is False
    assert recorded.emergency_waiver is True  # the waiver stays on record


def test_consent_needs_the_signers_name(world: World) -> None:
    consult = _waived(world)
    with pytest.raises(ConsultError) as refused:
        consult_consent_record(
            consult_id=consult.pk,
            actor_user=world.clinic_doctor,
            signer="  ",
            relation=ConsentRelation.SELF,
            method=ConsentMethod.ELECTRONIC,
        )
    assert refused.value.field == "signer"


def test_only_the_requester_records_consent(world: World) -> None:
    consult = _waived(world)
    for user in (world.specialist, world.coordinator, world.other_clinic_doctor):
        with pytest.raises(NotFound):
            consult_consent_record(
                consult_id=consult.pk,
                actor_user=user,
                signer="李建国",
                relation=ConsentRelation.CHILD,
                method=ConsentMethod.ELECTRONIC,
            )
    consult.refresh_from_db()
    assert consult.consent_follow_up_due is True


def test_consent_cannot_be_recorded_on_a_finished_consult(world: World) -> None:
    consult = _waived(world)
    ConsultRequest.objects.filter(pk=consult.pk).update(status=Status.CANCELLED)
    with pytest.raises(ConsultError) as refused:
        consult_consent_record(
            consult_id=consult.pk,
            actor_user=world.clinic_doctor,
            signer="李建国",
            relation=ConsentRelation.CHILD,
            method=ConsentMethod.ELECTRONIC,
        )
    assert refused.value.field == "consult"
