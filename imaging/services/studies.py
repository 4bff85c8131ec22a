"""Study administration: linking unmatched studies to a patient, deleting erroneous ones.

A study's patient is set here and nowhere else, once (unmatched to matched), on one of two
grounds the policy decides: reconciliation (`study_patient_link`) or attaching the study to a
consult of the patient (`study_patient_match`, which the consult's service calls). Either way
the study's revision goes up and the trail gets one `imaging.study.link` event.
"""

import logging

from django.core.files.storage import default_storage
from django.db import transaction

from imaging.errors import StudyAlreadyMatched, StudyDeleteReasonMissing, StudyMatchRefused
from imaging.models import Instance, Series, Study, study_subject
from server.access import (
    Action,
    Actor,
    NotFound,
    actor_for,
    institution_permits,
    patient_permits,
    study_permits,
)
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record
from server.directory.models import Patient

logger = logging.getLogger(__name__)


@transaction.atomic
def study_patient_link(*, user: User, study_id: int, patient_id: int) -> Study:
    """Reconcile an unmatched study with a consortium patient the user may see.

    Coordinators and the admins of the study's institution reconcile.
    Raises: NotFound when the study or patient is not the user's to see or reconcile;
    StudyAlreadyMatched.
    """
    actor = actor_for(user)
    study = (
        Study.objects.select_for_update().select_related("institution").filter(pk=study_id).first()
    )
    patient = Patient.objects.filter(pk=patient_id, merged_into__isnull=True).first()
    if (
        actor is None
        or study is None
        or patient is None
        or not study_permits(actor, Action.VIEW, study_subject(study))
        or not patient_permits(actor, Action.VIEW, patient)
    ):
        raise NotFound
    if study.patient_id is not None:
        raise StudyAlreadyMatched
    if not study_permits(actor, Action.UPDATE, study_subject(study)):
        raise NotFound
    _study_patient_set(user=user, actor=actor, study=study, patient=patient, detail=None)
    return study


@transaction.atomic
def study_patient_match(*, user: User, study_id: int, patient: Patient, consult_id: int) -> Study:
    """Match an unmatched study to the patient of the consult it is being attached to.

    The consult's service has checked that the user takes part in that consult, of that
    patient; the doctors of the study's own institution (who store its images) match it.
    Raises: NotFound when the user may not see the study; StudyAlreadyMatched;
    StudyMatchRefused.
    """
    actor = actor_for(user)
    study = (
        Study.objects.select_for_update().select_related("institution").filter(pk=study_id).first()
    )
    if (
        actor is None
        or study is None
        or not study_permits(actor, Action.VIEW, study_subject(study))
    ):
        raise NotFound
    if study.patient_id is not None:
        raise StudyAlreadyMatched
    if not institution_permits(actor, Action.STORE_IMAGES, study.institution):
        raise StudyMatchRefused
    _study_patient_set(
        user=user, actor=actor, study=study, patient=patient, detail={"consult_id": consult_id}
    )
    return study


def _study_patient_set(
    *, user: User, actor: Actor, study: Study, patient: Patient, detail: dict[str, object] | None
) -> None:
    study.patient = patient
    study.unmatched_reason = ""
    study.revision += 1
    study.save(update_fields=["patient", "unmatched_reason", "revision", "updated_at"])
    audit_record(
        user=user,
        action=AuditAction.UPDATE,
        event="imaging.study.link",
        actor_institution_id=actor.institution_id,
        resource_type="Study",
        resource_id=study.pk,
        patient_id=patient.pk,
        patient_institution_id=patient.home_institution_id,
        detail=detail,
    )


def study_delete(*, user: User, study_uid: str, reason: str) -> None:
    """Delete an erroneous study: its rows, and the files no other instance or series uses.

    The audit trail keeps the reason, the study's identifiers and every file's SHA-256. Files
    go only after the commit, so a rollback never leaves rows pointing at nothing.
    Raises: NotFound for a missing study and one the user may not manage (audited as denied);
    StudyDeleteReasonMissing.
    """
    reason = reason.strip()
    if not reason:
        raise StudyDeleteReasonMissing
    actor = actor_for(user)
    study = (
        Study.objects.select_related("institution", "patient")
        .filter(study_instance_uid=study_uid)
        .first()
    )
    if study is None or not study_permits(actor, Action.MANAGE_STUDIES, study_subject(study)):
        audit_record(
            user=user,
            action=AuditAction.DELETE,
            event="imaging.study.delete",
            outcome=AuditOutcome.DENIED,
            actor_institution_id=actor.institution_id if actor else None,
            resource_type="Study",
            resource_id=study.pk if study else study_uid[:64],
            patient_id=study.patient_id if study else None,
        )
        raise NotFound
    assert actor is not None
    files = _study_rows_delete(
        user=user, actor_institution_id=actor.institution_id, study=study, reason=reason
    )
    transaction.on_commit(lambda: _unreferenced_files_delete(files))


@transaction.atomic
def _study_rows_delete(
    *, user: User, actor_institution_id: int, study: Study, reason: str
) -> list[str]:
    # Locks the study, so an ingest adding to it waits and then finds no study to join.
    locked = Study.objects.select_for_update().filter(pk=study.pk).first()
    if locked is None:
        raise NotFound
    instances = list(
        Instance.objects.filter(study=study)
        .order_by("series_id", "instance_number", "pk")
        .values("sop_instance_uid", "sha256", "dataset_sha256", "storage_name", "series_id")
    )
    series = list(
        Series.objects.filter(study=study).values(
            "pk", "series_instance_uid", "thumbnail_name", "preview_name"
        )
    )
    audit_record(
        user=user,
        action=AuditAction.DELETE,
        event="imaging.study.delete",
        actor_institution_id=actor_institution_id,
        resource_type="Study",
        resource_id=study.pk,
        patient_id=study.patient_id,
        patient_institution_id=study.patient.home_institution_id if study.patient else None,
        detail={
            "reason": reason,
            "study_instance_uid": study.study_instance_uid,
            "accession_number": study.accession_number,
            "institution_id": study.institution_id,
            "source": study.source,
            "size_bytes": study.size_bytes,
            "series_instance_uids": [row["series_instance_uid"] for row in series],
            "instances": [
                {
                    "sop_instance_uid": row["sop_instance_uid"],
                    "sha256": row["sha256"],
                    "dataset_sha256": row["dataset_sha256"],
                }
                for row in instances
            ],
        },
    )
    # Cascades to series, instances and viewing marks.
    locked.delete()
    names = {row["storage_name"] for row in instances}
    for row in series:
        names |= {row["thumbnail_name"], row["preview_name"]} - {""}
    logger.info("Deleted study %s with %d instance(s)", study.pk, len(instances))
    return sorted(names)


def _unreferenced_files_delete(names: list[str]) -> None:
    """Delete the files no remaining instance or series refers to.

    Content-addressed files may be shared: the same bytes stored in another study, or a preview
    rendered from them. The references are checked again here, after the commit; an ingest of
    these very bytes in the instant between that check and the delete would still lose its
    file, which is acceptable for a deletion admins make by hand and rarely.
    """
    used = set(
        Instance.objects.filter(storage_name__in=names).values_list("storage_name", flat=True)
    )
    used |= set(
        Series.objects.filter(thumbnail_name__in=names).values_list("thumbnail_name", flat=True)
    )
    used |= set(
        Series.objects.filter(preview_name__in=names).values_list("preview_name", flat=True)
    )
    for name in names:
        if name not in used:
            default_storage.delete(name)
