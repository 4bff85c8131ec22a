"""The deadline sweep: expire stale requests and escalate each missed deadline exactly once."""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from consult.events import ConsultEscalated
from consult.messaging import consult_messages_for_escalation
from consult.models import ConsultRequest, DeadlineKind, Escalation, Status
from consult.selectors import consult_clocks
from consult.services.notices import consult_notification_subject
from consult.services.transitions import (
    consult_link,
    consult_publish_worklists,
    consult_transition,
)
from server.access import Action, practitioners_permitted
from server.directory.models import Practitioner
from server.lib.events import coordinators_group, publish_on_commit, user_group
from server.notifications.models import NotificationKind
from server.notifications.services import notification_send

logger = logging.getLogger(__name__)

# Statuses whose clocks run; needs_info is left out because its clocks are paused.
RUNNING = (
    Status.SUBMITTED,
    Status.ASSIGNED,
    Status.DECLINED,
    Status.ACCEPTED,
    Status.SCHEDULED,
    Status.UNDER_REVIEW,
    Status.IN_SESSION,
)
UNACCEPTED = (Status.SUBMITTED, Status.ASSIGNED, Status.DECLINED)


def _escalation_recipients(consult: ConsultRequest) -> list[int]:
    """The head of the responsible department, or else the consortium's coordinators."""
    lead = consult.participants.filter(ended_at__isnull=True, is_lead=True).select_related(
        "practitioner__department__head"
    )
    heads: set[int] = set()
    for participant in lead:
        department = participant.practitioner.department
        if department and department.head and department.head_id != participant.practitioner_id:
            heads.add(department.head.user_id)
    if not heads and consult.target_department and consult.target_department.head:
        heads.add(consult.target_department.head.user_id)
    if heads:
        return sorted(heads)
    return sorted(
        Practitioner.objects.filter(
            practitioners_permitted(Action.COORDINATE_CONSULTS),
            institution__consortium_id=consult.consortium_id,
        ).values_list("user_id", flat=True)
    )


def _escalate(consult: ConsultRequest, kind: DeadlineKind, due_at: datetime) -> bool:
    """Record the escalation and tell people; False if another sweep got there first."""
    recipients = _escalation_recipients(consult)
    try:
        with transaction.atomic():
            # The unique (consult, deadline) row is the claim: a concurrent sweep's insert
            # waits on it and then fails, so only one sweep notifies.
            escalation = Escalation.objects.create(
                consult=consult, deadline=kind, due_at=due_at, recipient_ids=recipients
            )
            consult_messages_for_escalation(escalation=escalation)
            notification_send(
                recipient_ids=recipients,
                kind=NotificationKind.CONSULT_ESCALATED,
                link=consult_link(consult.pk),
                subject=consult_notification_subject(consult),
            )
            event = ConsultEscalated(
                consult_id=consult.pk, deadline=kind.value, due_at=due_at, urgency=consult.urgency
            )
            publish_on_commit(coordinators_group(consult.consortium_id), event)
            for user_id in recipients:
                publish_on_commit(user_group(user_id), event)
            consult_publish_worklists(consult, from_status=consult.status)
    except IntegrityError:
        return False
    logger.info("Consult %d missed its %s deadline", consult.pk, kind)
    return True


def consult_deadlines_sweep(*, now: datetime | None = None) -> int:
    """Expire unaccepted requests past their window; escalate missed deadlines once each.

    Each consult is handled in its own transaction, so one failure does not undo the rest
    and notifications leave as soon as each escalation commits. Returns escalations made.
    """
    now = now or timezone.now()
    stale = ConsultRequest.objects.filter(status__in=UNACCEPTED, preferred_end__lt=now)
    for consult_id in stale.values_list("pk", flat=True):
        consult_transition(
            consult_id=consult_id,
            actor_user=None,
            to=Status.EXPIRED,
            reason="The preferred window ended before anyone accepted.",
        )
    escalated = 0
    running = ConsultRequest.objects.filter(status__in=RUNNING).select_related(
        "requester", "target_department__head"
    )
    already = set(
        Escalation.objects.filter(consult__status__in=RUNNING).values_list("consult_id", "deadline")
    )
    for consult in running.iterator(chunk_size=200):
        kinds = [k for k in DeadlineKind if (consult.pk, k.value) not in already]
        if not kinds:
            continue
        clocks = consult_clocks(consult=consult, now=now)
        for kind in kinds:
            clock = clocks.get(kind)
            if (
                clock is not None
                and clock.is_overdue(now)
                and _escalate(consult, kind, clock.due_at)
            ):
                escalated += 1
    return escalated
