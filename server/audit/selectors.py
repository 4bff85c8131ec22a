"""Reads of the audit trail."""

from django.db.models import Q, QuerySet

from server.audit.models import AuditEvent


def audit_events_for_institution(*, institution_id: int) -> QuerySet[AuditEvent]:
    """Events by the institution's staff or about its own patients, newest first."""
    return AuditEvent.objects.filter(
        Q(actor_institution_id=institution_id) | Q(patient_institution_id=institution_id)
    ).order_by("-seq")
