"""Routing: submit, assign, claim, decline, and the least-loaded choice of a specialist."""

from dataclasses import dataclass

from django.db import transaction

from consult.errors import ConsultError
from consult.lifecycle import AWAITING_ROUTING
from consult.models import (
    ConsultRequest,
    Kind,
    SpecialistDuty,
    Status,
    TargetKind,
)
from consult.selectors import consult_active_load
from consult.services.eligibility import ineligibility
from consult.services.notices import consult_notification_subject
from consult.services.transitions import Assignment, consult_transition
from server.access import Action, actor_for, institution_permits, practitioners_permitted
from server.accounts.models import User
from server.directory.errors import NotAllowed
from server.directory.models import Institution, Practitioner
from server.notifications.models import NotificationKind
from server.notifications.services import notification_send


def _declined_by(consult: ConsultRequest) -> set[int]:
    return set(
        consult.participants.filter(ended_at__isnull=False).values_list(
            "practitioner_id", flat=True
        )
    )


def consult_least_loaded_specialist(*, consult: ConsultRequest) -> Practitioner | None:
    """The eligible on-duty specialist with the fewest open consults (lowest id on ties)."""
    excluded = _declined_by(consult)
    candidates = [
        p
        for p in Practitioner.objects.filter(
            practitioners_permitted(Action.ANSWER_CONSULTS),
            institution__consortium_id=consult.consortium_id,
            specialty=consult.wanted_specialty,
            consult_duty__on_duty=True,
        )
        .select_related("institution")
        .prefetch_related("roles")
        .order_by("pk")
        if p.pk not in excluded and not ineligibility(practitioner=p, consult=consult)
    ]
    if not candidates:
        return None
    load = consult_active_load(practitioner_ids=[p.pk for p in candidates])
    return min(candidates, key=lambda p: (load[p.pk], p.pk))


@dataclass(frozen=True)
class Candidate:
    """A specialist a coordinator may consider for a consult, and what speaks against them.

    `problem` rules them out (the assignment refuses it); being off duty or having declined
    this consult already only warns, since duty governs automatic routing, not a person's
    choice.
    """

    practitioner: Practitioner
    problem: str
    on_duty: bool
    declined: bool
    load: int

    @property
    def eligible(self) -> bool:
        return not self.problem and self.on_duty and not self.declined


def consult_assignment_candidates(*, consult: ConsultRequest) -> list[Candidate]:
    """The consortium's specialists for a consult: eligible ones first, least loaded first."""
    specialists = list(
        Practitioner.objects.filter(
            practitioners_permitted(Action.ANSWER_CONSULTS),
            institution__consortium_id=consult.consortium_id,
        )
        .select_related("institution", "department", "consult_duty")
        .prefetch_related("roles")
        .distinct()
    )
    declined = _declined_by(consult)
    load = consult_active_load(practitioner_ids=[p.pk for p in specialists])
    candidates = [
        Candidate(
            practitioner=p,
            problem=ineligibility(practitioner=p, consult=consult),
            on_duty=bool(getattr(p, "consult_duty", None) and p.consult_duty.on_duty),
            declined=p.pk in declined,
            load=load[p.pk],
        )
        for p in specialists
    ]
    return sorted(
        candidates,
        key=lambda c: (
            not c.eligible,
            bool(c.problem),
            c.load,
            c.practitioner.display_name,
            c.practitioner.pk,
        ),
    )


@transaction.atomic
def consult_route(*, consult_id: int) -> ConsultRequest:
    """Route a consult that awaits it, as the system: named specialist, queue, or least loaded.

    Department queues wait for a claim; MDT teams are chosen by a coordinator or head.
    """
    consult = ConsultRequest.objects.select_related("target_practitioner").get(pk=consult_id)
    if consult.status not in AWAITING_ROUTING:
        return consult
    if consult.target_kind == TargetKind.DEPARTMENT:
        return consult
    chosen: Practitioner | None = None
    if consult.kind != Kind.MDT:
        named = consult.target_practitioner
        if (
            consult.target_kind == TargetKind.SPECIALIST
            and named is not None
            and named.pk not in _declined_by(consult)
        ):
            chosen = named
        else:
            chosen = consult_least_loaded_specialist(consult=consult)
    if chosen is None:
        coordinators = Practitioner.objects.filter(
            practitioners_permitted(Action.COORDINATE_CONSULTS),
            institution__consortium_id=consult.consortium_id,
        ).values_list("user_id", flat=True)
        notification_send(
            recipient_ids=list(coordinators),
            kind=NotificationKind.CONSULT_UNROUTED,
            link=f"/consults/{consult.pk}/",
            subject=consult_notification_subject(consult),
        )
        return consult
    return consult_transition(
        consult_id=consult.pk,
        actor_user=None,
        to=Status.ASSIGNED,
        assignment=Assignment(practitioner_ids=(chosen.pk,), lead_id=chosen.pk),
    )


@transaction.atomic
def consult_submit(*, consult_id: int, actor_user: User) -> ConsultRequest:
    """Send the request and route it."""
    consult_transition(consult_id=consult_id, actor_user=actor_user, to=Status.SUBMITTED)
    return consult_route(consult_id=consult_id)


def consult_assign(
    *, consult_id: int, actor_user: User, practitioner_ids: list[int], lead_id: int
) -> ConsultRequest:
    """A coordinator or department head invites a doctor, or an MDT team with its lead."""
    return consult_transition(
        consult_id=consult_id,
        actor_user=actor_user,
        to=Status.ASSIGNED,
        assignment=Assignment(
            practitioner_ids=tuple(dict.fromkeys(practitioner_ids)), lead_id=lead_id
        ),
    )


def consult_claim(*, consult_id: int, actor_user: User) -> ConsultRequest:
    """A specialist takes a consult from their department's queue."""
    actor = actor_for(actor_user)
    practitioner_id = actor.practitioner_id if actor else 0
    return consult_transition(
        consult_id=consult_id,
        actor_user=actor_user,
        to=Status.ASSIGNED,
        assignment=Assignment(practitioner_ids=(practitioner_id,), lead_id=practitioner_id),
    )


@transaction.atomic
def consult_decline(
    *,
    consult_id: int,
    actor_user: User,
    reason_code: str,
    reason: str,
    better_target_id: int | None = None,
) -> ConsultRequest:
    """Decline with a reason; the consult goes back to routing, to the better target if named."""
    consult = consult_transition(
        consult_id=consult_id,
        actor_user=actor_user,
        to=Status.DECLINED,
        reason_code=reason_code,
        reason=reason,
    )
    if better_target_id is not None:
        better = (
            Practitioner.objects.select_related("institution")
            .prefetch_related("roles")
            .filter(pk=better_target_id)
            .first()
        )
        problem = (
            "is unknown" if better is None else ineligibility(practitioner=better, consult=consult)
        )
        if problem or better is None:
            raise ConsultError(
                f"Practitioner {better_target_id} {problem}.", field="better_target_id"
            )
        consult.target_kind = TargetKind.SPECIALIST
        consult.target_practitioner = better
        consult.target_department = None
        consult.save(update_fields=["target_kind", "target_practitioner", "target_department"])
    elif consult.target_kind == TargetKind.SPECIALIST:
        # The named doctor said no: the consult centre finds another.
        consult.target_kind = TargetKind.CONSULT_CENTRE
        consult.save(update_fields=["target_kind"])
    return consult_route(consult_id=consult_id)


@transaction.atomic
def specialist_duty_set(*, actor_user: User, on_duty: bool) -> SpecialistDuty:
    """A specialist starts or ends taking automatically routed consults.

    Setting the state the specialist is already in keeps the time it started.
    """
    actor = actor_for(actor_user)
    institution = (
        Institution.objects.filter(pk=actor.institution_id).first() if actor is not None else None
    )
    if (
        actor is None
        or institution is None
        or not institution_permits(actor, Action.TAKE_CONSULT_DUTY, institution)
    ):
        raise NotAllowed("Only specialists go on consult duty.")
    duty, created = SpecialistDuty.objects.select_for_update().get_or_create(
        practitioner_id=actor.practitioner_id, defaults={"on_duty": on_duty}
    )
    if not created and duty.on_duty != on_duty:
        duty.on_duty = on_duty
        duty.save(update_fields=["on_duty", "changed_at"])
    return duty
