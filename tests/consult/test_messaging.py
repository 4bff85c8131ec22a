"""SMS/WeChat messages of critical consults, through the logging channel (no real gateway)."""

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from consult.messaging import consult_message_send, message_channel
from consult.models import (
    MessageReason,
    MessageState,
    OutboundMessage,
    Status,
    TargetKind,
    Urgency,
)
from consult.services import (
    consult_answer_info,
    consult_deadlines_sweep,
    consult_request_info,
    consult_submit,
)
from consult.tasks import consult_message_send_task
from server.celery import app
from server.directory.models import Practitioner
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult, practitioner_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
CaptureCallbacks = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


class FailingChannel:
    """A gateway that is down."""

    def send(self, *, recipient_phone: str, text: str) -> None:
        raise ConnectionError("gateway unreachable")


class NotAChannel:
    pass


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Run queued tasks in this process, so a test sees what the worker would do."""
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False


def _give_mobile(practitioner: Practitioner, mobile: str) -> None:
    practitioner.mobile = mobile
    practitioner.save(update_fields=["mobile"])


def _sent_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "consult.messaging"]


def test_critical_consult_assigned_texts_the_invited_doctor_through_the_channel(
    world: World,
    eager_tasks: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _give_mobile(practitioner_of(world.specialist), "13800001234")
    consult = make_consult(world, urgency=Urgency.CRITICAL)
    caplog.set_level(logging.INFO, logger="consult.messaging")
    with django_capture_on_commit_callbacks(execute=True):
        consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)

    message = OutboundMessage.objects.get()
    assert (message.recipient_id, message.reason, message.state) == (
        world.specialist.pk,
        MessageReason.CRITICAL_ASSIGNED,
        MessageState.SENT,
    )
    assert message.channel == "consult.messaging.LoggingMessageChannel"
    assert message.text == f"云诊：危急会诊 {consult.pk} 已分配给您，请立即响应。"  # noqa: RUF001
    logs = _sent_logs(caplog)
    assert any("***1234" in line and str(consult.pk) in line for line in logs), logs
    assert not any("13800001234" in line or world.patient.name in line for line in logs)


def test_routine_and_urgent_consults_send_no_message(world: World) -> None:
    for urgency in (Urgency.URGENT, Urgency.ROUTINE):
        consult = make_consult(world, urgency=urgency)
        consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    assert not OutboundMessage.objects.exists()


def test_returning_to_assigned_after_a_pause_queues_no_second_message(world: World) -> None:
    consult = make_consult(world, urgency=Urgency.CRITICAL)
    consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    consult_request_info(consult_id=consult.pk, actor_user=world.specialist, question="血常规?")
    consult_answer_info(consult_id=consult.pk, actor_user=world.clinic_doctor, answer="WBC 12")
    consult.refresh_from_db()
    assert consult.status == Status.ASSIGNED
    assert OutboundMessage.objects.count() == 1


def test_a_retried_task_sends_once(world: World, caplog: pytest.LogCaptureFixture) -> None:
    _give_mobile(practitioner_of(world.specialist), "13800001234")
    consult = make_consult(world, urgency=Urgency.CRITICAL)
    consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    message = OutboundMessage.objects.get()
    caplog.set_level(logging.INFO, logger="consult.messaging")
    consult_message_send_task(message.pk)
    consult_message_send_task(message.pk)
    sends = [line for line in _sent_logs(caplog) if "(log only)" in line]
    assert len(sends) == 1
    message.refresh_from_db()
    assert message.state == MessageState.SENT


def test_a_doctor_without_a_mobile_is_recorded_not_texted(world: World) -> None:
    consult = make_consult(world, urgency=Urgency.CRITICAL)
    consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    message = OutboundMessage.objects.get()
    consult_message_send(message_id=message.pk)
    message.refresh_from_db()
    assert (message.state, message.sent_at) == (MessageState.NO_PHONE, None)


def test_a_gateway_failure_leaves_the_message_pending_for_the_retry(
    world: World, settings: Any
) -> None:
    _give_mobile(practitioner_of(world.specialist), "13800001234")
    consult = make_consult(world, urgency=Urgency.CRITICAL)
    consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    message = OutboundMessage.objects.get()
    settings.CONSULT_MESSAGE_CHANNEL = "tests.consult.test_messaging.FailingChannel"
    with pytest.raises(ConnectionError):
        consult_message_send(message_id=message.pk)
    message.refresh_from_db()
    assert message.state == MessageState.PENDING


def test_a_setting_naming_something_else_than_a_channel_fails_loudly(settings: Any) -> None:
    settings.CONSULT_MESSAGE_CHANNEL = "tests.consult.test_messaging.NotAChannel"
    with pytest.raises(TypeError):
        message_channel()


def test_escalation_of_a_critical_consult_texts_each_recipient_once(world: World) -> None:
    start = datetime(2026, 5, 6, 9, 0, tzinfo=SHANGHAI)
    # Nobody is on duty, so the consult waits at the consult centre and its accept clock runs.
    consult = make_consult(
        world,
        urgency=Urgency.CRITICAL,
        target_kind=TargetKind.CONSULT_CENTRE,
        target_practitioner=None,
    )
    with time_machine.travel(start, tick=False):
        consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    assert consult_deadlines_sweep(now=start + timedelta(minutes=11)) == 1
    assert consult_deadlines_sweep(now=start + timedelta(hours=3)) == 1  # the opinion deadline
    messages = OutboundMessage.objects.filter(reason=MessageReason.CRITICAL_ESCALATED)
    assert sorted(messages.values_list("recipient_id", flat=True)) == [
        world.coordinator.pk,
        world.coordinator.pk,
    ]
    assert len({m.key for m in messages}) == 2
    accept = messages.get(
        key__startswith=f"escalated:{consult.escalations.get(deadline='accept').pk}:"
    )
    assert accept.text == f"云诊：危急会诊 {consult.pk} 未在时限内接诊，请立即处理。"  # noqa: RUF001


def test_escalation_of_an_urgent_consult_sends_no_message(world: World) -> None:
    add_specialist(world, "nobody", on_duty=False)
    start = datetime(2026, 5, 6, 9, 0, tzinfo=SHANGHAI)
    consult = make_consult(
        world,
        urgency=Urgency.URGENT,
        target_kind=TargetKind.CONSULT_CENTRE,
        target_practitioner=None,
    )
    with time_machine.travel(start, tick=False):
        consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    assert consult_deadlines_sweep(now=start + timedelta(hours=3)) == 1
    assert not OutboundMessage.objects.exists()
