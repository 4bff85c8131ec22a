"""Who sees which consult: the facts the access policy decides on, the one access function,
visibility as a queryset, worklists and the audited detail reads."""

from typing import Literal

from django.contrib.auth.models import AnonymousUser
from django.db.models import Case, Q, QuerySet, Value, When

from consult.audit import consult_audit
from consult.lifecycle import AWAITING_ROUTING, NOT_IN_HAND, TERMINAL
from consult.models import ConsultRequest, Status, TargetKind, Urgency
from server.access import (
    Action,
    Actor,
    ConsultAction,
    ConsultFacts,
    NotFound,
    actor_for,
    actor_permits,
    consult_permits,
    grant_holders,
    grant_sources,
    practitioners_permitted,
)
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.directory.models import Department, Practitioner

# The source type of the access grants a consult opens (its id is the source id).
GRANT_SOURCE = "consult"

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
            practitioners_permitted(Action.ANSWER_CONSULTS), department_id=department_id
        ).values_list("user_id", flat=True)
    )


def _department_heads(
    consult: ConsultRequest, participant_department_ids: set[int | None]
) -> QuerySet[Department]:
    department_ids = set(participant_department_ids)
    if consult.target_department_id is not None:
        department_ids.add(consult.target_department_id)
    return Department.objects.filter(pk__in=department_ids, head__isnull=False)


def consult_grant_holders(*, consult: ConsultRequest) -> dict[int, int]:
    """The people the consult's grant for its patient goes to now, as user id -> the institution
    they work at: while it is open, its active participants and the heads of their and the
    target department; while it waits for routing, the target department's queue (and, when
    just submitted, the specialist it names). Nobody once it has closed or ended: the signer's
    amendment window is opened apart."""
    if consult.status in (Status.DRAFT, Status.CLOSED, *TERMINAL):
        return {}
    active = consult.participants.filter(ended_at__isnull=True).values_list(
        "practitioner__user_id", "practitioner__institution_id", "practitioner__department_id"
    )
    holders = {user_id: institution_id for user_id, institution_id, _ in active}
    heads = _department_heads(consult, {department for _, _, department in active})
    holders.update(heads.values_list("head__user_id", "head__institution_id"))
    queue = consult_queue_user_ids(consult=consult)
    holders.update(
        Practitioner.objects.filter(user_id__in=queue).values_list("user_id", "institution_id")
    )
    named = consult.target_practitioner
    if consult.status == Status.SUBMITTED and named is not None and named.is_active:
        holders[named.user_id] = named.institution_id
    return holders


def consult_facts(*, consult: ConsultRequest) -> ConsultFacts:
    """Describe the consult for `server.access.consult_permits`."""
    active = list(
        consult.participants.filter(ended_at__isnull=True).values_list(
            "practitioner__user_id", "is_lead", "practitioner__department_id"
        )
    )
    heads = _department_heads(consult, {d for _, _, d in active}).values_list(
        "head__user_id", flat=True
    )
    return ConsultFacts(
        consortium_id=consult.consortium_id,
        patient_id=consult.patient_id,
        patient_home_institution_id=consult.patient.home_institution_id,
        inviting_institution_id=consult.inviting_institution_id,
        requester_user_id=consult.requester.user_id,
        invited_user_ids=frozenset(u for u, _, _ in active),
        lead_user_id=next((u for u, lead, _ in active if lead), None),
        queue_user_ids=consult_queue_user_ids(consult=consult),
        department_head_user_ids=frozenset(heads),
        is_open=consult.status not in NOT_IN_HAND,
        is_closed=consult.status == Status.CLOSED,
        grant_holder_user_ids=grant_holders(source_type=GRANT_SOURCE, source_id=str(consult.pk)),
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
        consult_audit(
            user=user,
            action=AuditAction.READ if action is ConsultAction.VIEW else AuditAction.EXECUTE,
            event=f"consult.{action.value}",
            outcome=AuditOutcome.SUCCESS if allowed else AuditOutcome.DENIED,
            consult=consult,
            resource_id=consult_id,
        )
    if not allowed or consult is None:
        raise NotFound
    return consult


def _may_still(*, user_id: int, consult_id: int, action: ConsultAction) -> bool:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    consult = ConsultRequest.objects.filter(pk=consult_id).first()
    if user is None or consult is None:
        return False
    return consult_permits(actor_for(user), action, consult_facts(consult=consult))


def consult_room_may_join(*, user_id: int, consult_id: int) -> bool:
    """Whether the user may open the consult's room (view the consult); the attempt is audited
    as a read either way."""
    user = User.objects.filter(pk=user_id).first()
    try:
        consult_get_for_user(user=user or AnonymousUser(), consult_id=consult_id)
    except NotFound:
        return False
    return True


def consult_room_may_stay(*, user_id: int, consult_id: int) -> bool:
    """Whether the user may still view the consult (not audited: the join was)."""
    return _may_still(user_id=user_id, consult_id=consult_id, action=ConsultAction.VIEW)


def review_may_stay(*, user_id: int, consult_id: int) -> bool:
    """Whether the user may still take part in the consult's reviews (not audited: the join
    was)."""
    return _may_still(user_id=user_id, consult_id=consult_id, action=ConsultAction.REVIEW)


def consults_visible_to(actor: Actor | None) -> QuerySet[ConsultRequest]:
    """Every consult the actor may view; mirrors the VIEW rule of `consult_permits`."""
    if actor is None:
        return ConsultRequest.objects.none()
    consults = ConsultRequest.objects.filter(consortium_id=actor.consortium_id)
    if actor_permits(actor, Action.COORDINATE_CONSULTS):
        return consults
    practitioner = Practitioner.objects.filter(pk=actor.practitioner_id).values_list(
        "department_id", flat=True
    )
    department_id = practitioner.first()
    # The invited side reads a consult only while holding its grant for the patient (which a
    # closed consult keeps for its signer inside the amendment window); the requesting side is
    # the patient's home institution.
    holding = [int(i) for i in grant_sources(actor, source_type=GRANT_SOURCE)]
    rule = Q(
        inviting_institution_id=actor.institution_id,
        patient__home_institution_id=actor.institution_id,
    ) | (
        Q(pk__in=holding)
        & (
            Q(
                participants__practitioner_id=actor.practitioner_id,
                participants__ended_at__isnull=True,
            )
            | (
                (
                    Q(target_department__head_id=actor.practitioner_id)
                    | Q(
                        participants__practitioner__department__head_id=actor.practitioner_id,
                        participants__ended_at__isnull=True,
                    )
                )
                & ~Q(status=Status.CLOSED)
            )
        )
    )
    if department_id is not None and actor_permits(actor, Action.ANSWER_CONSULTS):
        rule |= Q(
            pk__in=holding,
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


def consult_detail_for_user(*, user: User | AnonymousUser, consult_id: int) -> ConsultRequest:
    """The consult with everything its detail view shows; the read is audited."""
    consult_get_for_user(user=user, consult_id=consult_id)
    return (
        ConsultRequest.objects.select_related(
            "patient",
            "requester",
            "inviting_institution",
            "target_practitioner__institution",
            "target_department__institution",
        )
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
