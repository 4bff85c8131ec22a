"""SMS/WeChat messages for critical consults: the channel interface, queueing and sending."""

import logging
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext

from consult.models import (
    ConsultRequest,
    DeadlineKind,
    Escalation,
    MessageReason,
    MessageState,
    OutboundMessage,
    Urgency,
)
from server.directory.models import Practitioner

logger = logging.getLogger(__name__)


@runtime_checkable
class MessageChannel(Protocol):
    """A way to reach a doctor's phone outside the app (an SMS or WeChat gateway)."""

    def send(self, *, recipient_phone: str, text: str) -> None:
        """Hand the text to the gateway; raise on failure so the task retries."""


class LoggingMessageChannel:
    """Sends nothing: logs that a message would go out. The only channel so far."""

    def send(self, *, recipient_phone: str, text: str) -> None:
        # The text holds ids only; the phone is masked to its last 4 digits.
        logger.info("Message (log only) to ***%s: %s", recipient_phone[-4:], text)


def message_channel() -> MessageChannel:
    """The channel named by settings.CONSULT_MESSAGE_CHANNEL."""
    channel = import_string(settings.CONSULT_MESSAGE_CHANNEL)()
    if not isinstance(channel, MessageChannel):
        raise TypeError(f"{settings.CONSULT_MESSAGE_CHANNEL} is not a MessageChannel.")
    return channel


def _text(reason: MessageReason, consult_id: int, deadline: str = "") -> str:
    # Messages leave the system, so they carry the consult number and never the patient.
    with translation.override(settings.LANGUAGE_CODE):
        if reason == MessageReason.CRITICAL_ASSIGNED:
            text = gettext(
                "Yunzhen: critical consult %(consult_id)s was assigned to you. Please respond now."
            )
        elif deadline == DeadlineKind.ACCEPT:
            text = gettext(
                "Yunzhen: critical consult %(consult_id)s was not accepted in time. Please act now."
            )
        else:
            text = gettext(
                "Yunzhen: critical consult %(consult_id)s has no signed opinion in time."
                " Please act now."
            )
        return text % {"consult_id": consult_id}


def _queue(
    *, key: str, consult: ConsultRequest, recipient_id: int, reason: MessageReason, text: str
) -> None:
    message, created = OutboundMessage.objects.get_or_create(
        key=key,
        defaults={"consult": consult, "recipient_id": recipient_id, "reason": reason, "text": text},
    )
    if created:
        # Imported here: consult.tasks imports the services, which import this module.
        from consult.tasks import consult_message_send_task

        consult_message_send_task.delay_on_commit(message.pk)


@transaction.atomic
def consult_messages_for_assignment(*, consult: ConsultRequest) -> None:
    """Text each doctor newly invited to a critical consult, once per invitation."""
    if consult.urgency != Urgency.CRITICAL:
        return
    participants = consult.participants.filter(ended_at__isnull=True).select_related("practitioner")
    for participant in participants:
        _queue(
            key=f"assigned:{participant.pk}",
            consult=consult,
            recipient_id=participant.practitioner.user_id,
            reason=MessageReason.CRITICAL_ASSIGNED,
            text=_text(MessageReason.CRITICAL_ASSIGNED, consult.pk),
        )


@transaction.atomic
def consult_messages_for_escalation(*, escalation: Escalation) -> None:
    """Text everyone a critical consult's missed deadline was escalated to, once each."""
    consult = escalation.consult
    if consult.urgency != Urgency.CRITICAL:
        return
    text = _text(MessageReason.CRITICAL_ESCALATED, consult.pk, escalation.deadline)
    for user_id in escalation.recipient_ids:
        _queue(
            key=f"escalated:{escalation.pk}:{user_id}",
            consult=consult,
            recipient_id=user_id,
            reason=MessageReason.CRITICAL_ESCALATED,
            text=text,
        )


@transaction.atomic
def consult_message_send(*, message_id: int) -> None:
    """Send a queued message through the configured channel, unless it was handled already.

    The row stays locked while the gateway is called, so a task delivered twice waits and then
    finds it sent. A gateway failure rolls back and leaves it pending for the retry.
    """
    message = OutboundMessage.objects.select_for_update().filter(pk=message_id).first()
    if message is None or message.state != MessageState.PENDING:
        return
    phone = (
        Practitioner.objects.filter(user_id=message.recipient_id, is_active=True)
        .values_list("mobile", flat=True)
        .first()
    )
    if not phone:
        message.state = MessageState.NO_PHONE
        message.save(update_fields=["state"])
        logger.warning(
            "Message %d for user %d not sent: no mobile phone", message.pk, message.recipient_id
        )
        return
    channel = message_channel()
    channel.send(recipient_phone=phone, text=message.text)
    message.state = MessageState.SENT
    message.channel = settings.CONSULT_MESSAGE_CHANNEL
    message.sent_at = timezone.now()
    message.save(update_fields=["state", "channel", "sent_at"])
    logger.info(
        "Message %d (%s) about consult %d sent to user %d",
        message.pk,
        message.reason,
        message.consult_id,
        message.recipient_id,
    )
