"""Consult reads: the facts the access policy decides on, visibility, worklists, clocks."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from django.contrib.auth.models import AnonymousUser
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from consult import clocks
from consult.lifecycle import (
    ATTACHABLE,
    AWAITING_ROUTING,
    GRANT_ENDING,
    TERMINAL,
    TRANSITIONS,
)
from consult.models import (
    CalendarDay,
    ConsultEvent,
    ConsultRequest,
    DeadlineKind,
    DeadlinePolicy,
    DeadlineUnit,
    Kind,
    Mode,
    OpinionContribution,
    OpinionKeyImage,
    OpinionVersion,
    Status,
    TargetKind,
    Urgency,
)
from imaging.models import Study
from imaging.services import study_subject
from server.access import (
    Action,
    Actor,
    ConsultAction,
    ConsultFacts,
    NotFound,
    actor_for,
    consult_permits,
    patients_visible_to,
    study_permits,
)
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record
from server.directory.models import Department, Patient, Practitioner, Role

Worklist = Literal["incoming", "queue", "my_requests", "overdue", "all"]


def consult_queue_user_ids(*, consult: ConsultRequest) -> frozenset[int]:
    """Specialists of the target department, while the consult waits there for routing."""
    department_id = consult.target_department_id
    if (
        consult.target_kind != TargetKind.DEPARTMENT
        or department_id is None
        or consult.status not in AWAITING_ROUTING
    ):
        return frozenset()
    return frozenset(
        Practitioner.objects.filter(
            department_id=department_id, is_active=True, roles__role=Role.SPECIALIST
        ).values_list("user_id", flat=True)
    )


def consult_facts(*, consult: ConsultRequest) -> ConsultFacts:
    """Describe the consult for `server.access.consult_permits`."""
    active = list(
        consult.participants.filter(ended_at__isnull=True).values_list(
            "practitioner__user_id", "is_lead", "practitioner__department_id"
        )
    )
    department_ids: set[int | None] = {d for _, _, d in active}
    if consult.target_department_id is not None:
        department_ids.add(consult.target_department_id)
    heads = Department.objects.filter(pk__in=department_ids, head__isnull=False).values_list(
        "head__user_id", flat=True
    )
    return ConsultFacts(
        consortium_id=consult.consortium_id,
        patient_id=consult.patient_id,
        inviting_institution_id=consult.inviting_institution_id,
        requester_user_id=consult.requester.user_id,
        invited_user_ids=frozenset(u for u, _, _ in active),
        lead_user_id=next((u for u, lead, _ in active if lead), None),
        queue_user_ids=consult_queue_user_ids(consult=consult),
        department_head_user_ids=frozenset(heads),
        is_open=consult.status not in GRANT_ENDING,
    )


def consult_get_for_user(
    *,
    user: User | AnonymousUser,
    consult_id: int,
    action: ConsultAction = ConsultAction.VIEW,
    audit: bool = True,
) -> ConsultRequest:
    """Return the consult if the user may do `action` to it; reads are audited either way.

    Raises: NotFound when it is missing or not the user's to see.
    """
    actor = actor_for(user)
    consult = (
        ConsultRequest.objects.select_related("requester", "patient").filter(pk=consult_id).first()
    )
    allowed = consult is not None and consult_permits(actor, action, consult_facts(consult=consult))
    if audit:
        audit_record(
            user=user,
            action=AuditAction.READ if action is ConsultAction.VIEW else AuditAction.EXECUTE,
            event=f"consult.{action.value}",
            outcome=AuditOutcome.SUCCESS if allowed else AuditOutcome.DENIED,
            actor_institution_id=actor.institution_id if actor else None,
            resource_type="ConsultRequest",
            resource_id=consult_id,
            patient_id=consult.patient_id if consult else None,
            patient_institution_id=consult.patient.home_institution_id if consult else None,
        )
    if not allowed or consult is None:
        raise NotFound
    return consult


def consults_visible_to(actor: Actor | None) -> QuerySet[ConsultRequest]:
    """Every consult the actor may view; mirrors the VIEW rule of `consult_permits`."""
    if actor is None:
        return ConsultRequest.objects.none()
    consults = ConsultRequest.objects.filter(consortium_id=actor.consortium_id)
    if actor.has(Role.COORDINATOR):
        return consults
    practitioner = Practitioner.objects.filter(pk=actor.practitioner_id).values_list(
        "department_id", flat=True
    )
    department_id = practitioner.first()
    rule = (
        Q(inviting_institution_id=actor.institution_id)
        | Q(
            participants__practitioner_id=actor.practitioner_id,
            participants__ended_at__isnull=True,
        )
        | Q(target_department__head_id=actor.practitioner_id)
        | Q(
            participants__practitioner__department__head_id=actor.practitioner_id,
            participants__ended_at__isnull=True,
        )
    )
    if department_id is not None and actor.has(Role.SPECIALIST):
        rule |= Q(
            target_kind=TargetKind.DEPARTMENT,
            target_department_id=department_id,
            status__in=AWAITING_ROUTING,
        )
    return consults.filter(pk__in=consults.filter(rule).values("pk"))


def consults_in_worklist(*, actor: Actor | None, worklist: Worklist) -> QuerySet[ConsultRequest]:
    """One worklist of the actor, inside what they may see."""
    visible = consults_visible_to(actor)
    if actor is None or worklist == "all":
        return visible
    open_ = ~Q(status__in=[*TERMINAL, Status.CLOSED, Status.DRAFT])
    if worklist == "incoming":
        return visible.filter(
            open_,
            pk__in=ConsultRequest.objects.filter(
                participants__practitioner_id=actor.practitioner_id,
                participants__ended_at__isnull=True,
            ).values("pk"),
        )
    if worklist == "queue":
        return visible.filter(status__in=AWAITING_ROUTING).exclude(
            target_kind=TargetKind.SPECIALIST
        )
    if worklist == "my_requests":
        return visible.filter(requester_id=actor.practitioner_id)
    # overdue: open consults with an escalation
    return visible.filter(open_, escalations__isnull=False).distinct()


def consult_active_load(*, practitioner_ids: list[int]) -> dict[int, int]:
    """How many open consults each practitioner takes part in."""
    load = dict.fromkeys(practitioner_ids, 0)
    busy = Status.ASSIGNED, Status.ACCEPTED, Status.SCHEDULED, Status.UNDER_REVIEW
    rows = ConsultRequest.objects.filter(
        status__in=[*busy, Status.IN_SESSION, Status.NEEDS_INFO],
        participants__practitioner_id__in=practitioner_ids,
        participants__ended_at__isnull=True,
    ).values_list("participants__practitioner_id", flat=True)
    for practitioner_id in rows:
        load[practitioner_id] += 1
    return load


# --- Deadlines ------------------------------------------------------------------------------

# Defaults when a consortium has no DeadlinePolicy row: (amount, unit) for accept, opinion.
DEFAULT_DEADLINES: dict[str, tuple[tuple[int, str], tuple[int, str]]] = {
    Urgency.CRITICAL: ((10, DeadlineUnit.MINUTES), (2, DeadlineUnit.HOURS)),
    Urgency.URGENT: ((2, DeadlineUnit.HOURS), (24, DeadlineUnit.HOURS)),
    Urgency.ROUTINE: ((1, DeadlineUnit.WORKING_DAYS), (48, DeadlineUnit.HOURS)),
}


def deadline_limits(*, consortium_id: int, urgency: str) -> dict[DeadlineKind, tuple[int, str]]:
    """The consortium's limits for an urgency, or the defaults."""
    policy = DeadlinePolicy.objects.filter(consortium_id=consortium_id, urgency=urgency).first()
    if policy is None:
        accept, opinion = DEFAULT_DEADLINES[urgency]
    else:
        accept = (policy.accept_within, policy.accept_unit)
        opinion = (policy.opinion_within, policy.opinion_unit)
    return {DeadlineKind.ACCEPT: accept, DeadlineKind.OPINION: opinion}


# How far ahead of a clock's start the calendar is read: N working days never span more than
# this many calendar days in practice (the longest break, 春节, is 9 days).
_CALENDAR_SLACK_DAYS = 40


def working_calendar(*, consortium_id: int, start: date, days: int) -> clocks.WorkingCalendar:
    """The consortium's calendar from `start` for `days` days: national rows, overridden by
    the consortium's own."""
    rows = (
        CalendarDay.objects.filter(
            Q(consortium__isnull=True) | Q(consortium_id=consortium_id),
            date__gte=start,
            date__lte=start + timedelta(days=days),
        )
        # National rows first, so the consortium's row for the same date replaces them.
        .order_by(F("consortium_id").asc(nulls_first=True))
        .values_list("date", "is_working_day")
    )
    return clocks.WorkingCalendar(exceptions=dict(rows))


# Both clocks run from submission: the patient waits from then, and a slow acceptance must
# not buy more time for the opinion.
_CLOCK_STOPS = {DeadlineKind.ACCEPT: Status.ACCEPTED, DeadlineKind.OPINION: Status.OPINION_SIGNED}


@dataclass(frozen=True)
class ConsultClocks:
    accept: clocks.Clock | None
    opinion: clocks.Clock | None

    def get(self, kind: DeadlineKind) -> clocks.Clock | None:
        return self.accept if kind == DeadlineKind.ACCEPT else self.opinion


def consult_clocks(
    *,
    consult: ConsultRequest,
    events: list[ConsultEvent] | None = None,
    now: datetime | None = None,
) -> ConsultClocks:
    """Both deadline clocks of a consult, from its event log."""
    if events is None:
        events = list(consult.events.order_by("at", "pk"))
    moves = [clocks.Move(to_status=e.to_status, at=e.at) for e in events]
    limits = deadline_limits(consortium_id=consult.consortium_id, urgency=consult.urgency)
    now = now or timezone.now()
    calendar = clocks.WEEKDAYS
    submitted = next((m.at for m in moves if m.to_status == Status.SUBMITTED), None)
    longest = max(
        (n for n, unit in limits.values() if unit == DeadlineUnit.WORKING_DAYS), default=0
    )
    if submitted is not None and longest:
        calendar = working_calendar(
            consortium_id=consult.consortium_id,
            start=submitted.astimezone(clocks.SHANGHAI).date(),
            days=longest * 7 + _CALENDAR_SLACK_DAYS,
        )
    built = {
        kind: clocks.clock(
            moves,
            start=Status.SUBMITTED,
            stop=stop,
            pause=Status.NEEDS_INFO,
            amount=limits[kind][0],
            unit=limits[kind][1],
            now=now,
            calendar=calendar,
        )
        for kind, stop in _CLOCK_STOPS.items()
    }
    return ConsultClocks(accept=built[DeadlineKind.ACCEPT], opinion=built[DeadlineKind.OPINION])


def consult_detail_for_user(*, user: User | AnonymousUser, consult_id: int) -> ConsultRequest:
    """The consult with everything its detail view shows; the read is audited."""
    consult_get_for_user(user=user, consult_id=consult_id)
    return (
        ConsultRequest.objects.select_related("patient", "requester", "inviting_institution")
        .prefetch_related(
            "participants__practitioner", "events", "attachments", "escalations", "studies__study"
        )
        .get(pk=consult_id)
    )


def consult_page_for_user(
    *, user: User | AnonymousUser, worklist: Worklist, status: str = ""
) -> QuerySet[ConsultRequest]:
    """The consults of one worklist, most urgent and oldest first."""
    consults = consults_in_worklist(actor=actor_for(user), worklist=worklist)
    if status:
        consults = consults.filter(status=status)
    rank = Case(
        When(urgency=Urgency.CRITICAL, then=Value(0)),
        When(urgency=Urgency.URGENT, then=Value(1)),
        default=Value(2),
    )
    return (
        consults.select_related("patient", "requester")
        .annotate(urgency_rank=rank)
        .order_by("urgency_rank", "created_at", "pk")
    )


def consult_list_audit(*, user: User, consult_ids: list[int]) -> None:
    """Record which consults a listing showed."""
    actor = actor_for(user)
    audit_record(
        user=user,
        action=AuditAction.READ,
        event="consult.list",
        actor_institution_id=actor.institution_id if actor else None,
        resource_type="ConsultRequest",
        detail={"consult_ids": consult_ids},
    )


# --- Pages ----------------------------------------------------------------------------------

# What a viewer may do from the consult page: each action is one move of the transition table
# (made by one party), except the opinion actions, which follow the SIGN/CONTRIBUTE rules.
_PAGE_MOVES: dict[str, tuple[Status, ConsultAction]] = {
    "submit": (Status.SUBMITTED, ConsultAction.REQUEST),
    "claim": (Status.ASSIGNED, ConsultAction.CLAIM),
    "accept": (Status.ACCEPTED, ConsultAction.RESPOND),
    "decline": (Status.DECLINED, ConsultAction.RESPOND),
    "request_info": (Status.NEEDS_INFO, ConsultAction.RESPOND),
    "schedule": (Status.SCHEDULED, ConsultAction.RESPOND),
    "start_review": (Status.UNDER_REVIEW, ConsultAction.RESPOND),
    "start_session": (Status.IN_SESSION, ConsultAction.RESPOND),
    "cancel": (Status.CANCELLED, ConsultAction.REQUEST),
    "acknowledge": (Status.CLOSED, ConsultAction.REQUEST),
}
_WRITING = frozenset({Status.ACCEPTED, Status.SCHEDULED, Status.UNDER_REVIEW, Status.IN_SESSION})
_SIGNED = frozenset({Status.OPINION_SIGNED, Status.CLOSED})


def consult_actions_for_user(*, user: User | AnonymousUser, consult: ConsultRequest) -> set[str]:
    """The page actions the user may take on the consult in its current status."""
    actor = actor_for(user)
    facts = consult_facts(consult=consult)
    status = Status(consult.status)
    allowed: set[str] = set()
    for name, (to, action) in _PAGE_MOVES.items():
        if (status, to) in TRANSITIONS and consult_permits(actor, action, facts):
            allowed.add(name)
    if consult.mode == Mode.LIVE:
        allowed.discard("start_review")
    else:
        allowed -= {"schedule", "start_session"}
    if status == Status.NEEDS_INFO and consult_permits(actor, ConsultAction.REQUEST, facts):
        allowed.add("answer_info")
    if status in _WRITING | _SIGNED and consult_permits(actor, ConsultAction.SIGN, facts):
        allowed.add("write_opinion")
    if (
        consult.kind == Kind.MDT
        and status in _WRITING
        and consult_permits(actor, ConsultAction.CONTRIBUTE, facts)
        and not consult_permits(actor, ConsultAction.SIGN, facts)
    ):
        allowed.add("contribute")
    if status in ATTACHABLE and consult_permits(actor, ConsultAction.REQUEST, facts):
        allowed.add("attach")
    if status in ATTACHABLE and (
        consult_permits(actor, ConsultAction.REQUEST, facts)
        or consult_permits(actor, ConsultAction.CONTRIBUTE, facts)
    ):
        allowed.add("attach_study")
    if status == Status.DRAFT and consult_permits(actor, ConsultAction.REQUEST, facts):
        allowed.add("edit")
    if consult_permits(actor, ConsultAction.REVIEW, facts):
        allowed.add("review")
    if status in AWAITING_ROUTING and consult_permits(actor, ConsultAction.ROUTE, facts):
        allowed.add("assign")
    return allowed


@dataclass(frozen=True)
class OpinionState:
    """The signed versions of a consult's opinion, oldest first, and the open draft."""

    signed: list[OpinionVersion]
    draft: OpinionVersion | None
    contributions: list[OpinionContribution]

    @property
    def current(self) -> OpinionVersion | None:
        return self.signed[-1] if self.signed else None


def consult_opinion_state(*, consult: ConsultRequest) -> OpinionState:
    """The opinion of a consult the caller has already been allowed to see."""
    versions = list(
        OpinionVersion.objects.filter(opinion__consult=consult)
        .select_related("signed_by", "edited_by")
        .order_by("number")
    )
    return OpinionState(
        signed=[v for v in versions if v.is_signed],
        draft=next((v for v in versions if not v.is_signed), None),
        contributions=list(
            OpinionContribution.objects.filter(opinion__consult=consult)
            .select_related("practitioner")
            .order_by("practitioner_id")
        ),
    )


def consult_patient_choices(*, user: User | AnonymousUser) -> QuerySet[Patient]:
    """Patients the user may invite a consult about."""
    actor = actor_for(user)
    if actor is None or not (actor.has(Role.CLINIC_DOCTOR) or actor.has(Role.SPECIALIST)):
        return Patient.objects.none()
    return patients_visible_to(actor).filter(merged_into__isnull=True).order_by("name", "pk")


def consult_specialist_choices(*, user: User | AnonymousUser) -> QuerySet[Practitioner]:
    """Active specialists of the user's consortium, to name as the consult's target."""
    actor = actor_for(user)
    if actor is None:
        return Practitioner.objects.none()
    return (
        Practitioner.objects.filter(
            institution__consortium_id=actor.consortium_id,
            is_active=True,
            roles__role=Role.SPECIALIST,
        )
        .exclude(pk=actor.practitioner_id)
        .select_related("institution")
        .order_by("institution__name", "display_name", "pk")
        .distinct()
    )


def consult_department_choices(*, user: User | AnonymousUser) -> QuerySet[Department]:
    """Departments of the user's consortium, to send the consult to their queue."""
    actor = actor_for(user)
    if actor is None:
        return Department.objects.none()
    return (
        Department.objects.filter(institution__consortium_id=actor.consortium_id)
        .select_related("institution")
        .order_by("institution__name", "name", "pk")
    )


def consult_attachable_studies(
    *, user: User | AnonymousUser, consult: ConsultRequest, limit: int = 50
) -> list[Study]:
    """Studies the user could attach to the consult, newest first: the patient's studies the
    user may see, and the unmatched studies of the user's own institution (just sent by its
    modality or browser), leaving out those already attached."""
    actor = actor_for(user)
    if actor is None:
        return []
    own_unmatched = Q(patient__isnull=True, institution_id=actor.institution_id)
    candidates = (
        Study.objects.filter(Q(patient_id=consult.patient_id) | own_unmatched)
        .exclude(pk__in=consult.studies.values("study_id"))
        .select_related("institution", "patient")
        .order_by("-study_date", "-created_at")
    )
    return [
        study
        for study in candidates[:limit]
        if study_permits(actor, Action.VIEW, study_subject(study))
    ]


def opinion_key_image_for_user(
    *, user: User | AnonymousUser, consult_id: int, key_image_id: int
) -> OpinionKeyImage:
    """A key image of the consult's opinion: a signed version's for those who may view the
    consult, a draft's for those who write it. The consult read is audited.

    Raises: NotFound.
    """
    consult = consult_get_for_user(user=user, consult_id=consult_id)
    key_image = (
        OpinionKeyImage.objects.select_related("version")
        .filter(pk=key_image_id, version__opinion__consult=consult)
        .first()
    )
    if key_image is None:
        raise NotFound
    if not key_image.version.is_signed and not consult_permits(
        actor_for(user), ConsultAction.CONTRIBUTE, consult_facts(consult=consult)
    ):
        raise NotFound
    return key_image
