"""How consult code writes to the audit trail: the consult's patient and the actor's institution
filled in one way, whoever records (services for writes, selectors for the reads they audit)."""

from typing import Any

from django.contrib.auth.models import AnonymousUser

from consult.models import ConsultRequest
from server.access import actor_for
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record


def consult_audit(
    *,
    user: User | AnonymousUser | None,
    action: AuditAction,
    event: str,
    consult: ConsultRequest | None,
    resource_type: str = "ConsultRequest",
    resource_id: object = None,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record one event about a consult (or, with `consult=None`, about several or none): the
    resource is the consult unless another is named, and its patient is the consult's."""
    actor = actor_for(user) if user is not None else None
    if resource_id is None:
        resource_id = consult.pk if consult is not None else ""
    audit_record(
        user=user,
        action=action,
        event=event,
        outcome=outcome,
        actor_institution_id=actor.institution_id if actor else None,
        resource_type=resource_type,
        resource_id=resource_id,
        patient_id=consult.patient_id if consult is not None else None,
        patient_institution_id=(
            consult.patient.home_institution_id if consult is not None else None
        ),
        detail=detail,
    )
