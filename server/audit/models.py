"""The append-only audit trail, shaped after FHIR AuditEvent and IHE BALP, hash-chained."""

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    """FHIR AuditEvent.action codes."""

    CREATE = "C", _("Create")
    READ = "R", _("Read")
    UPDATE = "U", _("Update")
    DELETE = "D", _("Delete")
    EXECUTE = "E", _("Execute")


class AuditOutcome(models.TextChoices):
    """FHIR AuditEvent.outcome codes: 0 success, 4 minor failure (denied), 8 serious failure."""

    SUCCESS = "0", _("Success")
    DENIED = "4", _("Denied")
    FAILURE = "8", _("Failure")


class AuditEvent(models.Model):
    """One audited act. Rows are never updated or deleted; database triggers refuse it.

    Actor, institution and patient are plain ids, not foreign keys, so deleting anything
    elsewhere can never rewrite the trail.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    recorded_at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=1, choices=AuditAction.choices)
    event = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=1, choices=AuditOutcome.choices)
    actor_id = models.BigIntegerField(null=True, db_index=True)
    actor_username = models.CharField(max_length=150, blank=True)
    actor_institution_id = models.BigIntegerField(null=True, db_index=True)
    client_address = models.CharField(max_length=64, blank=True)
    resource_type = models.CharField(max_length=32, blank=True)
    resource_id = models.CharField(max_length=64, blank=True)
    patient_id = models.BigIntegerField(null=True, db_index=True)
    patient_institution_id = models.BigIntegerField(null=True, db_index=True)
    detail = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]
        # Finds the listings that showed a patient (detail.patient_ids), for the patient's
        # access report and the audit browser's patient filter.
        indexes = [
            GinIndex(fields=["detail"], opclasses=["jsonb_path_ops"], name="audit_detail_gin")
        ]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"#{self.seq} {self.event} {self.outcome}"


class AuditChainHead(models.Model):
    """The single row that serialises appends and remembers the chain's last link."""

    seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"head #{self.seq}"
