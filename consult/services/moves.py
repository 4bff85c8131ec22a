"""The thin named services over `consult_transition`, one per move a party makes."""

from datetime import datetime

from django.db import transaction

from consult.models import ConsultRequest, Status
from consult.services.transitions import consult_transition
from server.accounts.models import User


def consult_accept(*, consult_id: int, actor_user: User) -> ConsultRequest:
    """The lead invited doctor takes the consult on."""
    return consult_transition(consult_id=consult_id, actor_user=actor_user, to=Status.ACCEPTED)


def consult_request_info(*, consult_id: int, actor_user: User, question: str) -> ConsultRequest:
    """Ask the requester for more; the deadline clocks pause until they answer."""
    return consult_transition(
        consult_id=consult_id, actor_user=actor_user, to=Status.NEEDS_INFO, reason=question
    )


@transaction.atomic
def consult_answer_info(*, consult_id: int, actor_user: User, answer: str) -> ConsultRequest:
    """Answer the invited doctor's question; the consult returns to where it paused."""
    paused_from = (
        ConsultRequest.objects.filter(pk=consult_id).values_list("paused_from", flat=True).first()
    )
    return consult_transition(
        consult_id=consult_id,
        actor_user=actor_user,
        to=Status(paused_from) if paused_from else Status.ASSIGNED,
        reason=answer,
    )


def consult_schedule(*, consult_id: int, actor_user: User, starts_at: datetime) -> ConsultRequest:
    """Set the live session's time."""
    return consult_transition(
        consult_id=consult_id,
        actor_user=actor_user,
        to=Status.SCHEDULED,
        scheduled_start=starts_at,
    )


def consult_start_review(*, consult_id: int, actor_user: User) -> ConsultRequest:
    """Begin reviewing an offline consult."""
    return consult_transition(consult_id=consult_id, actor_user=actor_user, to=Status.UNDER_REVIEW)


def consult_start_session(*, consult_id: int, actor_user: User) -> ConsultRequest:
    """Open the scheduled live session."""
    return consult_transition(consult_id=consult_id, actor_user=actor_user, to=Status.IN_SESSION)


def consult_cancel(*, consult_id: int, actor_user: User, reason: str) -> ConsultRequest:
    """The requester withdraws the consult."""
    return consult_transition(
        consult_id=consult_id, actor_user=actor_user, to=Status.CANCELLED, reason=reason
    )


def consult_mark_entered_in_error(
    *, consult_id: int, actor_user: User, reason: str
) -> ConsultRequest:
    """Void a consult created by mistake (wrong patient, duplicate)."""
    return consult_transition(
        consult_id=consult_id, actor_user=actor_user, to=Status.ENTERED_IN_ERROR, reason=reason
    )


def consult_acknowledge(
    *, consult_id: int, actor_user: User, disposition: str, next_steps: str
) -> ConsultRequest:
    """The requester records what they did with the opinion, which closes the consult."""
    return consult_transition(
        consult_id=consult_id,
        actor_user=actor_user,
        to=Status.CLOSED,
        disposition=disposition,
        next_steps=next_steps,
    )
