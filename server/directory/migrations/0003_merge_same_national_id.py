"""Merge records registered twice with one national ID number, before 0004 forbids it.

They are the same person by definition; the later ones are merged into the earliest, as a
coordinator's merge does (the later record points to the earliest and keeps its own consults and studies), the
suspected-duplicate rows are closed as merged, and each merge is written to the audit trail.
"""

from django.db import migrations
from django.db.models import Count, Q
from django.utils import timezone


def merge_same_national_id(apps, schema_editor):  # type: ignore[no-untyped-def]
    Patient = apps.get_model("directory", "Patient")
    PatientDuplicate = apps.get_model("directory", "PatientDuplicate")
    groups = (
        Patient.objects.filter(merged_into__isnull=True)
        .exclude(national_id_hash="")
        .values("consortium_id", "national_id_hash")
        .annotate(records=Count("id"))
        .filter(records__gt=1)
    )
    now = timezone.now()
    for group in groups:
        records = list(
            Patient.objects.filter(
                consortium_id=group["consortium_id"],
                national_id_hash=group["national_id_hash"],
                merged_into__isnull=True,
            ).order_by("registered_at", "id")
        )
        kept, later = records[0], records[1:]
        for record in later:
            record.merged_into_id = kept.pk
            record.save(update_fields=["merged_into"])
            pair = Q(new_patient_id=record.pk, existing_patient_id=kept.pk) | Q(
                new_patient_id=kept.pk, existing_patient_id=record.pk
            )
            closed = PatientDuplicate.objects.filter(pair, status="open").update(
                status="merged", reviewed_at=now
            )
            if not closed and not PatientDuplicate.objects.filter(pair).exists():
                PatientDuplicate.objects.create(
                    consortium_id=kept.consortium_id,
                    new_patient_id=record.pk,
                    existing_patient_id=kept.pk,
                    reason="same_national_id",
                    status="merged",
                    reviewed_at=now,
                )
            # Imported here: only a database that holds such records runs it, and the trail
            # must show the merge like any other.
            from server.audit.models import AuditAction
            from server.audit.services import audit_record

            audit_record(
                user=None,
                action=AuditAction.UPDATE,
                event="patient.merge",
                resource_type="Patient",
                resource_id=record.pk,
                patient_id=record.pk,
                patient_institution_id=record.home_institution_id,
                detail={
                    "existing_patient_id": kept.pk,
                    "reason": "same_national_id",
                    "by": "migration directory.0003",
                },
            )


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0002_practitioner_mobile"),
        ("audit", "0002_append_only"),
    ]

    operations = [migrations.RunPython(merge_same_national_id, migrations.RunPython.noop)]
