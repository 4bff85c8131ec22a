"""The one way a consult changes status (the thin named services over it are in moves.py)."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from consult.audit import consult_audit
from consult.clocks import SHANGHAI
from consult.errors import InvalidTransition, NotQualified, SessionNotOpen
from consult.events import ConsultStatusChanged, ConsultWorklistChanged, Worklist, consult_group
from consult.lifecycle import (
    AWAITING_ROUTING,
    PAUSABLE,
    TERMINAL,
    Party,
    parties_for,
)
from consult.messaging import consult_messages_for_assignment
from consult.models import (
    ConsultEvent,
    ConsultParticipant,
    ConsultRequest,
    DeclineCode,
    Disposition,
    Kind,
    Mode,
    OpinionVersion,
    Status,
    TargetKind,
)
from consult.selectors import consult_facts, consult_queue_user_ids
from consult.selectors.visibility import GRANT_SOURCE, consult_grant_holders
from consult.services.eligibility import ineligibility
from consult.services.notices import consult_notification_subject
from consult.sessions import WindowState, session_join_window
from server.access import ConsultAction, NotFound, actor_for, consult_permits
from server.accounts.models import User
from server.audit.models import AuditAction
from server.directory.errors import NotAllowed
from server.directory.models import Practitioner
from server.directory.services import access_grants_sync
from server.lib.dates import MOMENT_RANGE_MESSAGE, moment_plausible
from server.lib.events import (
    coordinators_group,
    department_group,
    publish_on_commit,
    user_group,
)
from server.notifications.models import NotificationKind
from server.notifications.services import notification_send

logger = logging.getLogger(__name__)


_PARTY_ACTION = {
    Party.REQUESTER: ConsultAction.REQUEST,
    Party.ROUTER: ConsultAction.ROUTE,
    Party.CLAIMANT: ConsultAction.CLAIM,
    Party.LEAD: ConsultAction.RESPOND,
    Party.CORRECTOR: ConsultAction.CORRECT,
}


@dataclass(frozen=True)
class Assignment:
    """The invited doctors of a consult: one for most, several with a lead for MDT."""

    practitioner_ids: tuple[int, ...]
    lead_id: int


def consult_link(consult_id: int) -> str:
    return f"/consults/{consult_id}/"


def _participant_user_ids(consult: ConsultRequest, *, lead_only: bool = False) -> list[int]:
    active = consult.participants.filter(ended_at__isnull=True)
    if lead_only:
        active = active.filter(is_lead=True)
    return list(active.values_list("practitioner__user_id", flat=True))


def _check_allowed(
    consult: ConsultRequest, actor_user: User | None, parties: frozenset[Party]
) -> Party:
    """The party the actor acts as. Raises NotFound if they may not see the consult."""
    if actor_user is None:
        if Party.SYSTEM in parties:
            return Party.SYSTEM
        raise InvalidTransition("Only a person can make this move.", field="to")
    actor = actor_for(actor_user)
    facts = consult_facts(consult=consult)
    for party in sorted(parties - {Party.SYSTEM}):
        if consult_permits(actor, _PARTY_ACTION[party], facts):
            return party
    if not consult_permits(actor, ConsultAction.VIEW, facts):
        raise NotFound
    raise NotAllowed("You may not make this change to the consult.")


def _check_guard(
    consult: ConsultRequest,
    *,
    to: Status,
    party: Party,
    actor_user: User | None,
    reason: str,
    reason_code: str,
    assignment: Assignment | None,
    scheduled_start: datetime | None,
    disposition: str,
) -> None:
    """What must hold for the move, beyond it being in the table."""
    from_status = Status(consult.status)
    if to in (Status.CANCELLED, Status.ENTERED_IN_ERROR, Status.NEEDS_INFO) and not reason:
        raise InvalidTransition(_("Give a reason."), field="reason")
    if to == Status.SUBMITTED:
        _check_consent(consult)
    elif to == Status.ASSIGNED and from_status == Status.NEEDS_INFO:
        pass
    elif to == Status.ASSIGNED:
        _check_assignment(consult, party=party, actor_user=actor_user, assignment=assignment)
    if from_status == Status.NEEDS_INFO and to in PAUSABLE:
        if to != consult.paused_from:
            raise InvalidTransition(
                f"The answer returns the consult to {consult.paused_from}.", field="to"
            )
        if not reason:
            raise InvalidTransition(_("Give the information asked for."), field="reason")
    if to == Status.DECLINED:
        if reason_code not in DeclineCode.values:
            raise InvalidTransition(_("Choose a reason for declining."), field="reason_code")
        if not reason:
            raise InvalidTransition(_("Explain why you decline."), field="reason")
    if to == Status.SCHEDULED:
        if consult.mode != Mode.LIVE:
            raise InvalidTransition("Only live consults are scheduled.", field="to")
        if scheduled_start is None:
            raise InvalidTransition(_("Give the session's start."), field="scheduled_start")
        if not moment_plausible(scheduled_start):
            raise InvalidTransition(MOMENT_RANGE_MESSAGE, field="scheduled_start")
    if to == Status.IN_SESSION:
        _check_join_window(consult)
    if to == Status.UNDER_REVIEW and consult.mode != Mode.OFFLINE:
        raise InvalidTransition("Live consults are scheduled, not reviewed.", field="to")
    if (
        to == Status.OPINION_SIGNED
        and not OpinionVersion.objects.filter(
            opinion__consult=consult, signed_at__isnull=False
        ).exists()
    ):
        raise InvalidTransition("Sign the opinion to complete the consult.", field="to")
    if to == Status.CLOSED and disposition not in Disposition.values:
        raise InvalidTransition(
            _("Say whether the opinion was adopted, partly or not."), field="disposition"
        )


def _check_join_window(consult: ConsultRequest) -> None:
    """A session starts only within its join window, never a day early or long after its slot."""
    if consult.scheduled_start is None:
        raise SessionNotOpen(_("Schedule the session before starting it."), field="session")
    window = session_join_window(consult.scheduled_start)
    state = window.state(timezone.now())
    if state == WindowState.EARLY:
        raise SessionNotOpen(
            _(
                "The session can be started from %(opens)s, %(minutes)d minutes before its "
                "scheduled start, not earlier."
            )
            % {"opens": _shanghai(window.opens_at), "minutes": window.minutes_before},
            field="session",
        )
    if state == WindowState.PAST:
        raise SessionNotOpen(
            _(
                "The session's slot ended at %(closes)s; it can no longer be started. Move it "
                "to a new time first."
            )
            % {"closes": _shanghai(window.closes_at)},
            field="session",
        )


def _shanghai(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _check_consent(consult: ConsultRequest) -> None:
    if consult.emergency_waiver:
        return
    if not (consult.consent_signer and consult.consent_relation and consult.consent_method):
        raise InvalidTransition(
            _("Record the patient's consent or an emergency waiver."), field="consent_signer"
        )
    if (
        consult.consent_method == "written"
        and not consult.attachments.filter(kind="consent_form").exists()
    ):
        raise InvalidTransition(
            _("Attach the scanned consent form before submitting."), field="attachments"
        )


def _check_assignment(
    consult: ConsultRequest,
    *,
    party: Party,
    actor_user: User | None,
    assignment: Assignment | None,
) -> None:
    if assignment is None or not assignment.practitioner_ids:
        raise InvalidTransition(_("Choose a doctor."), field="practitioner_ids")
    if assignment.lead_id not in assignment.practitioner_ids:
        raise InvalidTransition(_("Choose the lead among the invited doctors."), field="lead_id")
    if consult.kind != Kind.MDT and len(assignment.practitioner_ids) != 1:
        raise InvalidTransition(
            _("Only an MDT case discussion invites several doctors; choose one."),
            field="practitioner_ids",
        )
    if party == Party.CLAIMANT:
        actor = actor_for(actor_user) if actor_user else None
        if actor is None or assignment.practitioner_ids != (actor.practitioner_id,):
            raise InvalidTransition("A claim assigns the consult to yourself.", field="lead_id")
    practitioners = Practitioner.objects.select_related("institution").filter(
        pk__in=assignment.practitioner_ids
    )
    found = {p.pk: p for p in practitioners.prefetch_related("roles")}
    for practitioner_id in assignment.practitioner_ids:
        practitioner = found.get(practitioner_id)
        problem = (
            "is unknown"
            if practitioner is None
            else ineligibility(practitioner=practitioner, consult=consult)
        )
        if problem:
            raise NotQualified(
                f"Practitioner {practitioner_id} {problem}.", field="practitioner_ids"
            )


def _apply(
    consult: ConsultRequest,
    *,
    from_status: Status,
    to: Status,
    reason: str,
    assignment: Assignment | None,
    scheduled_start: datetime | None,
    disposition: str,
    next_steps: str,
    now: datetime,
) -> list[int]:
    """Change the row and its participants; return the user ids whose part ended."""
    ended: list[int] = []
    if to == Status.ASSIGNED and assignment is not None and from_status != Status.NEEDS_INFO:
        for practitioner_id in assignment.practitioner_ids:
            ConsultParticipant.objects.create(
                consult=consult,
                practitioner_id=practitioner_id,
                is_lead=practitioner_id == assignment.lead_id,
                invited_at=now,
            )
    if to == Status.NEEDS_INFO:
        consult.paused_from = from_status
        consult.info_request = reason
    if from_status == Status.NEEDS_INFO:
        consult.paused_from = ""
    if to == Status.SCHEDULED:
        consult.scheduled_start = scheduled_start
    if to == Status.CLOSED:
        consult.disposition = disposition
        consult.next_steps = next_steps
        consult.acknowledged_at = now
    if to == Status.DECLINED or to in TERMINAL:
        active = consult.participants.filter(ended_at__isnull=True)
        ended = list(active.values_list("practitioner__user_id", flat=True))
        if to == Status.DECLINED:
            active.update(ended_at=now)
    consult.status = to
    consult.save()
    return ended


def consult_grants_sync(*, consult: ConsultRequest) -> None:
    """Give the consult's grant for its patient to the people on it now, renewed for
    ACCESS_GRANT_DAYS, and end it for everyone else (the minimum necessary: never a whole
    institution). Once closed, its signer alone keeps it for the amendment window."""
    source_id = str(consult.pk)
    if consult.status != Status.CLOSED:
        access_grants_sync(
            patient_id=consult.patient_id,
            source_type=GRANT_SOURCE,
            source_id=source_id,
            holders=consult_grant_holders(consult=consult),
            reason=f"Consult {consult.pk}",
        )
        return
    latest = (
        OpinionVersion.objects.filter(opinion__consult=consult, signed_by__isnull=False)
        .select_related("signed_by")
        .order_by("-number")
        .first()
    )
    signer = latest.signed_by if latest is not None else None
    access_grants_sync(
        patient_id=consult.patient_id,
        source_type=GRANT_SOURCE,
        source_id=source_id,
        holders={signer.user_id: signer.institution_id}
        if signer is not None and signer.is_active
        else {},
        reason=f"Consult {consult.pk}: amendment window",
        ends_at=timezone.now() + timedelta(days=settings.CONSULT_AMENDMENT_DAYS),
    )


_NOTICES: dict[Status, tuple[NotificationKind, str]] = {
    # to-status: (kind, who): requester, lead, participants, ended or ended_and_requester
    Status.ASSIGNED: (NotificationKind.CONSULT_ASSIGNED, "participants"),
    Status.ACCEPTED: (NotificationKind.CONSULT_ACCEPTED, "requester"),
    Status.DECLINED: (NotificationKind.CONSULT_DECLINED, "requester"),
    Status.NEEDS_INFO: (NotificationKind.CONSULT_NEEDS_INFO, "requester"),
    Status.SCHEDULED: (NotificationKind.CONSULT_SCHEDULED, "requester"),
    Status.OPINION_SIGNED: (NotificationKind.CONSULT_OPINION_SIGNED, "requester"),
    # Only the lead (the signer) keeps a closed consult, for the amendment window.
    Status.CLOSED: (NotificationKind.CONSULT_ACKNOWLEDGED, "lead"),
    Status.CANCELLED: (NotificationKind.CONSULT_WITHDRAWN, "ended"),
    Status.EXPIRED: (NotificationKind.CONSULT_WITHDRAWN, "ended_and_requester"),
    Status.ENTERED_IN_ERROR: (NotificationKind.CONSULT_WITHDRAWN, "ended"),
}


def _notify(consult: ConsultRequest, *, from_status: Status, to: Status, ended: list[int]) -> None:
    requester = [consult.requester.user_id]
    if from_status == Status.NEEDS_INFO:
        kind, recipients = (
            NotificationKind.CONSULT_INFO_ANSWERED,
            _participant_user_ids(consult, lead_only=True),
        )
    elif to == Status.SUBMITTED and consult.target_kind == TargetKind.DEPARTMENT:
        kind, recipients = (
            NotificationKind.CONSULT_QUEUED,
            list(consult_queue_user_ids(consult=consult)),
        )
    elif to in _NOTICES:
        kind, who = _NOTICES[to]
        recipients = {
            "requester": requester,
            "participants": _participant_user_ids(consult),
            "lead": _participant_user_ids(consult, lead_only=True),
            "ended": ended,
            "ended_and_requester": [*ended, *requester],
        }[who]
    else:
        return
    if recipients:
        notification_send(
            recipient_ids=recipients,
            kind=kind,
            link=consult_link(consult.pk),
            subject=consult_notification_subject(consult),
        )


def consult_publish_worklists(
    consult: ConsultRequest, *, from_status: str, extra_incoming: list[int] | None = None
) -> None:
    """Tell every user whose worklists the consult is in, or just left, after commit.

    A department queue and the coordinators' boards are shared: one send to their group
    reaches everyone on them, however many they are.
    """

    def publish(group: str, worklist: Worklist) -> None:
        publish_on_commit(
            group,
            ConsultWorklistChanged(
                worklist=worklist,
                consult_id=consult.pk,
                status=consult.status,
                urgency=consult.urgency,
            ),
        )

    routing = from_status in AWAITING_ROUTING or consult.status in AWAITING_ROUTING
    department_id = consult.target_department_id
    if routing and consult.target_kind == TargetKind.DEPARTMENT and department_id is not None:
        publish(department_group(department_id), "queue")
    if consult.escalations.exists():
        publish(coordinators_group(consult.consortium_id), "overdue")
    elif routing and consult.target_kind == TargetKind.CONSULT_CENTRE:
        publish(coordinators_group(consult.consortium_id), "queue")
    audiences: dict[int, Worklist] = dict.fromkeys(
        [*_participant_user_ids(consult), *(extra_incoming or [])], "incoming"
    )
    audiences[consult.requester.user_id] = "my_requests"
    for user_id, worklist in audiences.items():
        publish(user_group(user_id), worklist)


@transaction.atomic
def consult_transition(
    *,
    consult_id: int,
    actor_user: User | None,
    to: Status,
    reason: str = "",
    reason_code: str = "",
    assignment: Assignment | None = None,
    scheduled_start: datetime | None = None,
    disposition: str = "",
    next_steps: str = "",
) -> ConsultRequest:
    """Move a consult along the transition table; `actor_user=None` is the system.

    Locks the row, asks the access policy, checks the guard, appends a ConsultEvent, opens
    or closes the invited side's access grants, and notifies after commit.
    Raises: NotFound, NotAllowed, InvalidTransition, NotQualified.
    """
    consult = (
        ConsultRequest.objects.select_for_update(of=("self",))
        .select_related("requester", "target_department", "target_practitioner", "patient")
        .filter(pk=consult_id)
        .first()
    )
    if consult is None:
        raise NotFound
    from_status = Status(consult.status)
    to = Status(to)
    parties = parties_for(from_status, to)
    if not parties:
        # Hidden consults stay hidden even when the move would be invalid anyway.
        _check_allowed(consult, actor_user, frozenset(Party) - {Party.SYSTEM})
        raise InvalidTransition(
            f"A consult cannot go from {from_status.value} to {to.value}.", field="to"
        )
    party = _check_allowed(consult, actor_user, parties)
    reason = reason.strip()
    _check_guard(
        consult,
        to=to,
        party=party,
        actor_user=actor_user,
        reason=reason,
        reason_code=reason_code,
        assignment=assignment,
        scheduled_start=scheduled_start,
        disposition=disposition,
    )
    now = timezone.now()
    ended = _apply(
        consult,
        from_status=from_status,
        to=to,
        reason=reason,
        assignment=assignment,
        scheduled_start=scheduled_start,
        disposition=disposition,
        next_steps=next_steps.strip(),
        now=now,
    )
    ConsultEvent.objects.create(
        consult=consult,
        from_status=from_status,
        to_status=to,
        actor=actor_user,
        reason_code=reason_code,
        reason=reason,
        at=now,
    )
    consult_grants_sync(consult=consult)
    consult_audit(
        user=actor_user,
        action=AuditAction.UPDATE,
        event="consult.transition",
        consult=consult,
        detail={"from": from_status.value, "to": to.value, "party": party.value},
    )
    _notify(consult, from_status=from_status, to=to, ended=ended)
    if to == Status.ASSIGNED:
        consult_messages_for_assignment(consult=consult)
    consult_publish_worklists(consult, from_status=from_status, extra_incoming=ended)
    publish_on_commit(
        consult_group(consult.pk),
        ConsultStatusChanged(consult_id=consult.pk, from_status=from_status, status=to, at=now),
    )
    logger.info("Consult %d: %s -> %s (%s)", consult.pk, from_status, to, party)
    return consult
