"""What the consult pages offer a viewer: the actions they may take, and the choices of the
request form (patients, specialists, departments, studies to attach)."""

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from consult.lifecycle import ATTACHABLE, AWAITING_ROUTING, TRANSITIONS
from consult.models import ConsultRequest, Kind, Mode, Status
from consult.selectors.visibility import consult_facts
from imaging.models import Study
from imaging.selectors import studies_visible_to
from server.access import (
    Action,
    ConsultAction,
    actor_for,
    actor_permits,
    consult_permits,
    patients_visible_to,
    practitioners_permitted,
)
from server.accounts.models import User
from server.directory.models import Department, Patient, Practitioner

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
    if status in ATTACHABLE and consult_permits(actor, ConsultAction.ATTACH_STUDY, facts):
        allowed.add("attach_study")
    if status == Status.DRAFT and consult_permits(actor, ConsultAction.REQUEST, facts):
        allowed.add("edit")
    if consult_permits(actor, ConsultAction.REVIEW, facts):
        allowed.add("review")
    if status in AWAITING_ROUTING and consult_permits(actor, ConsultAction.ROUTE, facts):
        allowed.add("assign")
    return allowed


def consult_patient_choices(*, user: User | AnonymousUser) -> QuerySet[Patient]:
    """Patients the user may invite a consult about."""
    actor = actor_for(user)
    if not actor_permits(actor, Action.REQUEST_CONSULT):
        return Patient.objects.none()
    return patients_visible_to(actor).filter(merged_into__isnull=True).order_by("name", "pk")


def consult_specialist_choices(*, user: User | AnonymousUser) -> QuerySet[Practitioner]:
    """Active specialists of the user's consortium, to name as the consult's target."""
    actor = actor_for(user)
    if actor is None:
        return Practitioner.objects.none()
    return (
        Practitioner.objects.filter(
            practitioners_permitted(Action.ANSWER_CONSULTS),
            institution__consortium_id=actor.consortium_id,
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
        studies_visible_to(actor)
        .filter(Q(patient_id=consult.patient_id) | own_unmatched)
        .exclude(pk__in=consult.studies.values("study_id"))
        .select_related("institution", "patient")
        .order_by("-study_date", "-created_at")
    )
    return list(candidates[:limit])
