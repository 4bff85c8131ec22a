"""A specialist's consult duty and the consults waiting for them, as their home page shows."""

from dataclasses import dataclass
from datetime import datetime

from consult.models import ConsultRequest, SpecialistDuty, Status, Urgency
from consult.selectors.deadlines import consult_clocks
from consult.selectors.visibility import consults_in_worklist
from server.access import Actor

# Consults the invited doctor still has to act on: answer the invitation, or write the opinion.
PENDING = frozenset(
    {
        Status.ASSIGNED,
        Status.ACCEPTED,
        Status.SCHEDULED,
        Status.UNDER_REVIEW,
        Status.IN_SESSION,
        Status.NEEDS_INFO,
    }
)
_URGENCY_RANK = {Urgency.CRITICAL: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2}


def specialist_duty_for(*, practitioner_id: int) -> SpecialistDuty | None:
    """The practitioner's duty row; None when they never went on duty."""
    return SpecialistDuty.objects.filter(practitioner_id=practitioner_id).first()


@dataclass(frozen=True)
class PendingConsult:
    """A consult waiting for the specialist, with the deadline of their next step.

    `deadline` is None while the clock is paused for information from the requester.
    """

    consult: ConsultRequest
    deadline: datetime | None
    accepting: bool  # the next step is to accept (else: to sign the opinion)


def consults_pending_for(*, actor: Actor) -> list[PendingConsult]:
    """The consults the actor is invited to and still has to act on: most urgent first, then
    the nearest deadline (paused clocks last), then the oldest."""
    consults = (
        consults_in_worklist(actor=actor, worklist="incoming")
        .filter(status__in=PENDING)
        .select_related("patient", "requester", "inviting_institution")
    )
    pending = []
    for consult in consults:
        clocks = consult_clocks(consult=consult)
        accepting = consult.status == Status.ASSIGNED
        clock = clocks.accept if accepting else clocks.opinion
        running = clock is not None and clock.stopped_at is None and not clock.paused
        pending.append(
            PendingConsult(
                consult=consult,
                deadline=clock.due_at if running and clock is not None else None,
                accepting=accepting,
            )
        )
    return sorted(
        pending,
        key=lambda p: (
            _URGENCY_RANK.get(Urgency(p.consult.urgency), len(_URGENCY_RANK)),
            p.deadline is None,
            p.deadline or p.consult.created_at,
            p.consult.created_at,
            p.consult.pk,
        ),
    )
