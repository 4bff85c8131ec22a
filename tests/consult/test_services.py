"""Routing, deadlines and opinions: the business rules around the transition table."""

import dataclasses
import threading
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from consult.clocks import WORKING_DAYS, add_limit
from consult.errors import InvalidTransition, NotQualified, OpinionFrozen, PasswordMismatch
from consult.models import (
    ConsultRequest,
    DeclineCode,
    Escalation,
    Kind,
    OpinionVersion,
    Status,
    TargetKind,
    Urgency,
)
from consult.services import (
    OpinionSections,
    consult_accept,
    consult_answer_info,
    consult_assign,
    consult_deadlines_sweep,
    consult_decline,
    consult_request_info,
    consult_start_review,
    consult_submit,
    opinion_contribute,
    opinion_draft_save,
    opinion_sign,
    opinion_version_intact,
)
from server.directory.models import Specialty, Title
from server.notifications.models import Notification, NotificationKind
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult, practitioner_of
from tests.factories import PASSWORD

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECTIONS = OpinionSections(
    findings="右下肺片状影",
    impression="社区获得性肺炎",
    recommendations="抗感染治疗",
    referral_advised=False,
    follow_up_advice="一周后复查胸片",
)


def _lead_id(consult: ConsultRequest) -> int:
    return consult.participants.get(ended_at__isnull=True, is_lead=True).practitioner_id


def test_consult_centre_routes_to_the_least_loaded_eligible_specialist(world: World) -> None:
    busy = add_specialist(world, "busy", title=Title.CHIEF)
    free = add_specialist(world, "free")
    add_specialist(world, "junior", since=timezone.localdate() - timedelta(days=365))
    add_specialist(world, "resident", title=Title.RESIDENT)
    add_specialist(world, "off_duty", on_duty=False)
    add_specialist(world, "cardiologist", specialty=Specialty.CARDIOLOGY)
    make_consult(world, Status.ASSIGNED, target_practitioner=busy).participants.update(
        practitioner=busy
    )
    consult = make_consult(world, target_kind=TargetKind.CONSULT_CENTRE, target_practitioner=None)
    routed = consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    assert routed.status == Status.ASSIGNED
    assert _lead_id(routed) == free.pk


def test_named_specialist_gets_the_consult_and_a_notification(world: World) -> None:
    consult = make_consult(world)
    routed = consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    assert _lead_id(routed) == practitioner_of(world.specialist).pk
    assert Notification.objects.filter(
        recipient=world.specialist, kind=NotificationKind.CONSULT_ASSIGNED
    ).exists()


def test_decline_routes_to_the_better_target_named(world: World) -> None:
    better = add_specialist(world, "better")
    consult = make_consult(world, Status.ASSIGNED)
    routed = consult_decline(
        consult_id=consult.pk,
        actor_user=world.specialist,
        reason_code=DeclineCode.OUTSIDE_SPECIALTY,
        reason="胸部影像请王医生看",
        better_target_id=better.pk,
    )
    assert (routed.status, _lead_id(routed)) == (Status.ASSIGNED, better.pk)
    assert list(routed.events.values_list("to_status", "reason_code")) == [
        (Status.DECLINED, DeclineCode.OUTSIDE_SPECIALTY),
        (Status.ASSIGNED, ""),
    ]


def test_mdt_team_is_assigned_by_a_coordinator_with_a_lead(world: World) -> None:
    cardiologist = add_specialist(world, "cardio", specialty=Specialty.CARDIOLOGY)
    lead = practitioner_of(world.specialist)
    consult = make_consult(
        world,
        Status.SUBMITTED,
        kind=Kind.MDT,
        target_kind=TargetKind.CONSULT_CENTRE,
        target_practitioner=None,
    )
    consult_assign(
        consult_id=consult.pk,
        actor_user=world.coordinator,
        practitioner_ids=[lead.pk, cardiologist.pk],
        lead_id=lead.pk,
    )
    assert set(consult.participants.values_list("practitioner_id", "is_lead")) == {
        (lead.pk, True),
        (cardiologist.pk, False),
    }


def test_a_doctor_under_three_years_cannot_be_assigned(world: World) -> None:
    junior = add_specialist(world, "junior", since=timezone.localdate() - timedelta(days=700))
    consult = make_consult(world, Status.SUBMITTED)
    with pytest.raises(NotQualified) as refused:
        consult_assign(
            consult_id=consult.pk,
            actor_user=world.coordinator,
            practitioner_ids=[junior.pk],
            lead_id=junior.pk,
        )
    assert refused.value.field == "practitioner_ids"


# --- Deadlines ------------------------------------------------------------------------------


def test_one_working_day_skips_the_weekend() -> None:
    friday = datetime(2026, 5, 8, 15, 0, tzinfo=SHANGHAI)
    assert add_limit(friday, 1, WORKING_DAYS) == datetime(2026, 5, 11, 15, 0, tzinfo=SHANGHAI)


def _submitted_at(world: World, moment: datetime, **fields: Any) -> ConsultRequest:
    with time_machine.travel(moment, tick=False):
        consult = make_consult(world, **fields)
        return consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)


def test_missed_accept_deadline_escalates_once_to_the_coordinators(world: World) -> None:
    start = datetime(2026, 5, 6, 9, 0, tzinfo=SHANGHAI)
    consult = _submitted_at(world, start, urgency=Urgency.CRITICAL)
    assert consult_deadlines_sweep(now=start + timedelta(minutes=9)) == 0
    assert consult_deadlines_sweep(now=start + timedelta(minutes=11)) == 1
    assert consult_deadlines_sweep(now=start + timedelta(minutes=12)) == 0
    escalation = Escalation.objects.get(consult=consult)
    assert escalation.recipient_ids == [world.coordinator.pk]
    assert escalation.due_at == start + timedelta(minutes=10)


def test_paused_consult_does_not_escalate_and_the_pause_extends_the_deadline(
    world: World,
) -> None:
    start = datetime(2026, 5, 6, 9, 0, tzinfo=SHANGHAI)
    consult = _submitted_at(world, start, urgency=Urgency.CRITICAL)
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        consult_request_info(consult_id=consult.pk, actor_user=world.specialist, question="血常规?")
    assert consult_deadlines_sweep(now=start + timedelta(hours=1)) == 0
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        consult_answer_info(consult_id=consult.pk, actor_user=world.clinic_doctor, answer="WBC 12")
    # 5 minutes ran before the pause, so 5 remain after it.
    assert consult_deadlines_sweep(now=start + timedelta(hours=1, minutes=4)) == 0
    assert consult_deadlines_sweep(now=start + timedelta(hours=1, minutes=6)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_escalate_a_missed_deadline_once(world: World) -> None:
    start = datetime(2026, 5, 6, 9, 0, tzinfo=SHANGHAI)
    consult = _submitted_at(world, start, urgency=Urgency.CRITICAL)
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(consult_deadlines_sweep(now=start + timedelta(minutes=30)))
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(results) == [0, 1]
    assert Escalation.objects.filter(consult=consult).count() == 1
    assert Notification.objects.filter(kind=NotificationKind.CONSULT_ESCALATED).count() == 1


def test_turnaround_comes_from_the_event_log(world: World) -> None:
    from consult.selectors import consult_clocks

    start = datetime(2026, 5, 6, 9, 0, tzinfo=SHANGHAI)
    consult = _submitted_at(world, start)
    with time_machine.travel(start + timedelta(minutes=40), tick=False):
        consult_accept(consult_id=consult.pk, actor_user=world.specialist)
    ConsultRequest.objects.filter(pk=consult.pk).update(updated_at=start + timedelta(days=9))
    clocks = consult_clocks(consult=consult, now=start + timedelta(days=10))
    assert clocks.accept is not None
    assert clocks.accept.turnaround == timedelta(minutes=40)


# --- Opinions -------------------------------------------------------------------------------


def _under_review(world: World) -> ConsultRequest:
    consult = make_consult(world, Status.ACCEPTED)
    consult_start_review(consult_id=consult.pk, actor_user=world.specialist)
    return consult


def test_signing_freezes_a_hashed_version_and_completes_the_consult(world: World) -> None:
    consult = _under_review(world)
    opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=SECTIONS)
    version = opinion_sign(consult_id=consult.pk, actor_user=world.specialist, password=PASSWORD)
    consult.refresh_from_db()
    assert consult.status == Status.OPINION_SIGNED
    assert opinion_version_intact(version)
    OpinionVersion.objects.filter(pk=version.pk).update(impression="改过")
    assert not opinion_version_intact(OpinionVersion.objects.get(pk=version.pk))


def test_signing_re_asks_the_password(world: World) -> None:
    consult = _under_review(world)
    opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=SECTIONS)
    with pytest.raises(PasswordMismatch):
        opinion_sign(consult_id=consult.pk, actor_user=world.specialist, password="wrong")
    consult.refresh_from_db()
    assert consult.status == Status.UNDER_REVIEW


def test_signing_with_the_sections_on_screen_signs_them_over_an_empty_draft(
    world: World,
) -> None:
    consult = _under_review(world)
    empty = OpinionSections(
        findings="", impression="", recommendations="", referral_advised=False, follow_up_advice=""
    )
    opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=empty)

    version = opinion_sign(
        consult_id=consult.pk, actor_user=world.specialist, password=PASSWORD, sections=SECTIONS
    )

    assert (version.impression, version.findings) == ("社区获得性肺炎", "右下肺片状影")
    assert opinion_version_intact(version)
    assert OpinionVersion.objects.count() == 1


def test_a_refused_signature_with_sections_leaves_the_saved_draft_as_it_was(world: World) -> None:
    consult = _under_review(world)
    opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=SECTIONS)
    changed = dataclasses.replace(SECTIONS, impression="改过的印象")

    with pytest.raises(PasswordMismatch):
        opinion_sign(
            consult_id=consult.pk, actor_user=world.specialist, password="wrong", sections=changed
        )

    draft = OpinionVersion.objects.get()
    assert (draft.impression, draft.signed_at) == ("社区获得性肺炎", None)


def test_amendment_is_a_new_signed_version_and_notifies_the_requester(world: World) -> None:
    consult = _under_review(world)
    opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=SECTIONS)
    first = opinion_sign(consult_id=consult.pk, actor_user=world.specialist, password=PASSWORD)
    with pytest.raises(OpinionFrozen):
        opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=SECTIONS)
    opinion_draft_save(
        consult_id=consult.pk,
        actor_user=world.specialist,
        sections=SECTIONS,
        amendment_reason="补充随访",
    )
    second = opinion_sign(consult_id=consult.pk, actor_user=world.specialist, password=PASSWORD)
    assert (first.number, second.number) == (1, 2)
    assert opinion_version_intact(OpinionVersion.objects.get(pk=first.pk))
    assert Notification.objects.filter(
        recipient=world.clinic_doctor, kind=NotificationKind.CONSULT_OPINION_AMENDED
    ).exists()


def test_mdt_lead_signs_only_after_every_member_contributed(world: World) -> None:
    member = add_specialist(world, "member", specialty=Specialty.CARDIOLOGY)
    consult = make_consult(
        world,
        Status.SUBMITTED,
        kind=Kind.MDT,
        target_practitioner=None,
        target_kind=TargetKind.CONSULT_CENTRE,
    )
    lead = practitioner_of(world.specialist)
    consult_assign(
        consult_id=consult.pk,
        actor_user=world.coordinator,
        practitioner_ids=[lead.pk, member.pk],
        lead_id=lead.pk,
    )
    consult_accept(consult_id=consult.pk, actor_user=world.specialist)
    consult_start_review(consult_id=consult.pk, actor_user=world.specialist)
    opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=SECTIONS)
    with pytest.raises(InvalidTransition) as refused:
        opinion_sign(consult_id=consult.pk, actor_user=world.specialist, password=PASSWORD)
    assert refused.value.field == "contributions"
    opinion_contribute(consult_id=consult.pk, actor_user=member.user, text="心电图无缺血改变")
    version = opinion_sign(consult_id=consult.pk, actor_user=world.specialist, password=PASSWORD)
    assert [c["practitioner_id"] for c in version.contributions] == [member.pk]


def test_a_lead_under_three_years_cannot_sign(world: World) -> None:
    consult = _under_review(world)
    opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=SECTIONS)
    specialist = practitioner_of(world.specialist)
    specialist.independent_practice_since = timezone.localdate() - timedelta(days=400)
    specialist.save()
    with pytest.raises(NotQualified):
        opinion_sign(consult_id=consult.pk, actor_user=world.specialist, password=PASSWORD)
