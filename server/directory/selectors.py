"""Directory reads. Reads of patient data are audited here, where they happen."""

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from server.access import (
    Action,
    Actor,
    NotFound,
    actor_for,
    consortium_permits,
    patient_permits,
    patients_visible_to,
)
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record
from server.directory.models import (
    DuplicateStatus,
    Institution,
    Patient,
    PatientDuplicate,
    Practitioner,
)

MAX_PAGE_SIZE = 100


def patient_get_for_user(
    *, user: User | AnonymousUser, patient_id: int, action: Action = Action.VIEW
) -> Patient:
    """Return the patient if the user may do `action` to it, auditing the attempt either way.

    Raises: NotFound when the patient is missing or not the user's to see.
    """
    actor = actor_for(user)
    patient = (
        Patient.objects.select_related("home_institution", "merged_into")
        .filter(pk=patient_id)
        .first()
    )
    allowed = patient is not None and patient_permits(actor, action, patient)
    audit_record(
        user=user,
        action=AuditAction.READ if action is Action.VIEW else AuditAction.EXECUTE,
        event=f"patient.{action.value}",
        outcome=AuditOutcome.SUCCESS if allowed else AuditOutcome.DENIED,
        actor_institution_id=actor.institution_id if actor else None,
        resource_type="Patient",
        resource_id=patient_id,
        patient_id=patient.pk if patient else None,
        patient_institution_id=patient.home_institution_id if patient else None,
    )
    if not allowed or patient is None:
        raise NotFound
    return patient


@dataclass(frozen=True)
class PatientPage:
    items: list[Patient]
    total: int
    offset: int
    limit: int


def patient_page_for_user(
    *, user: User | AnonymousUser, search: str = "", offset: int = 0, limit: int = 25
) -> PatientPage:
    """One page of the patients the user may see, newest first; the listing is audited."""
    actor = actor_for(user)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, offset)
    patients = patients_visible_to(actor).filter(merged_into__isnull=True)
    if search.strip():
        term = search.strip()
        patients = patients.filter(Q(name__icontains=term) | Q(health_card_number=term))
    total = patients.count()
    items = list(
        patients.select_related("home_institution").order_by("-registered_at", "-pk")[
            offset : offset + limit
        ]
    )
    if actor is not None:
        audit_record(
            user=user,
            action=AuditAction.READ,
            event="patient.search",
            actor_institution_id=actor.institution_id,
            resource_type="Patient",
            detail={"search": search.strip(), "patient_ids": [p.pk for p in items]},
        )
    return PatientPage(items=items, total=total, offset=offset, limit=limit)


def practitioner_for_user(*, user: User | AnonymousUser) -> Practitioner | None:
    actor = actor_for(user)
    if actor is None:
        return None
    return Practitioner.objects.select_related(
        "institution", "institution__consortium", "institution__parent", "department"
    ).get(pk=actor.practitioner_id)


def institution_get(*, institution_id: int) -> Institution | None:
    """The institution with its consortium, or None."""
    return Institution.objects.select_related("consortium").filter(pk=institution_id).first()


def colleagues_of(*, actor: Actor) -> QuerySet[Practitioner]:
    """Active practitioners of the actor's institution, the actor included."""
    return (
        Practitioner.objects.filter(institution_id=actor.institution_id, is_active=True)
        .select_related("department")
        .prefetch_related("roles")
        .order_by("display_name")
    )


def institutions_of_consortium(*, actor: Actor) -> QuerySet[Institution]:
    return Institution.objects.filter(consortium_id=actor.consortium_id).select_related("parent")


def _duplicates_open(*, actor: Actor) -> QuerySet[PatientDuplicate]:
    if not consortium_permits(actor, Action.REVIEW_DUPLICATES, actor.consortium_id):
        return PatientDuplicate.objects.none()
    return PatientDuplicate.objects.filter(
        consortium_id=actor.consortium_id, status=DuplicateStatus.OPEN
    )


def duplicates_open_count(*, actor: Actor) -> int:
    """How many suspected duplicates await the coordinator's review (0 for everyone else)."""
    return _duplicates_open(actor=actor).count()


def duplicates_open_for_review(*, user: User, actor: Actor) -> list[PatientDuplicate]:
    """Open suspected duplicates with both patients, oldest first; the read is audited."""
    duplicates = list(
        _duplicates_open(actor=actor)
        .select_related("new_patient__home_institution", "existing_patient__home_institution")
        .order_by("detected_at")
    )
    if duplicates:
        audit_record(
            user=user,
            action=AuditAction.READ,
            event="patient.duplicate_review",
            actor_institution_id=actor.institution_id,
            resource_type="PatientDuplicate",
            detail={
                "patient_ids": sorted(
                    {d.new_patient_id for d in duplicates}
                    | {d.existing_patient_id for d in duplicates}
                )
            },
        )
    return duplicates
