"""One ingest service for every door (STOW-RS, C-STORE, upload): check, store, index."""

import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse

from imaging.dicom import (
    DicomRejected,
    FailureReason,
    ParsedInstance,
    instance_json,
    instance_parse,
)
from imaging.models import IngestSource, Instance, Series, Study
from imaging.services.previews import series_previews_request
from imaging.services.storage import blob_write, storage_name
from server.access import (
    Action,
    StudySubject,
    actor_for,
    institution_actor,
    institution_permits,
    study_permits,
)
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record
from server.directory.models import Institution, Patient

logger = logging.getLogger(__name__)


class IngestStatus(StrEnum):
    STORED = "stored"
    ALREADY_STORED = "already_stored"  # identical bytes were stored before: a no-op
    FAILED = "failed"


@dataclass(frozen=True)
class IngestResult:
    status: IngestStatus
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    failure_reason: FailureReason | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not IngestStatus.FAILED


def _failed(parsed: ParsedInstance, reason: FailureReason, message: str) -> IngestResult:
    return IngestResult(
        status=IngestStatus.FAILED,
        sop_class_uid=parsed.sop_class_uid,
        sop_instance_uid=parsed.sop_instance_uid,
        study_instance_uid=parsed.study_instance_uid,
        series_instance_uid=parsed.series_instance_uid,
        failure_reason=reason,
        message=message,
    )


def _done(parsed: ParsedInstance, status: IngestStatus) -> IngestResult:
    return IngestResult(
        status=status,
        sop_class_uid=parsed.sop_class_uid,
        sop_instance_uid=parsed.sop_instance_uid,
        study_instance_uid=parsed.study_instance_uid,
        series_instance_uid=parsed.series_instance_uid,
    )


def study_subject(study: Study) -> StudySubject:
    return StudySubject(
        owner_institution_id=study.institution_id,
        owner_consortium_id=study.institution.consortium_id,
        patient_id=study.patient_id,
    )


def _patient_match(*, institution: Institution, patient_id: str, issuer: str) -> Patient | None:
    """The one live consortium patient whose health card number is the DICOM PatientID.

    The issuer must be empty or the consortium's code; two candidates match nobody.
    """
    if not patient_id or issuer not in ("", institution.consortium.code):
        return None
    candidates = list(
        Patient.objects.filter(
            consortium_id=institution.consortium_id,
            health_card_number=patient_id,
            merged_into__isnull=True,
        )[:2]
    )
    return candidates[0] if len(candidates) == 1 else None


def instance_ingest(
    *,
    data: bytes | BinaryIO,
    source: IngestSource,
    institution_id: int,
    user: User | None,
    study_instance_uid: str | None = None,
) -> IngestResult:
    """Check one DICOM instance and store it, or say precisely why not.

    Nothing is written for a rejected instance. `user` is None only for doors that authorise
    by other means (a registered calling AE title). `study_instance_uid` is the target study
    of a STOW-RS request, which every instance must belong to.
    """
    payload = data if isinstance(data, bytes) else data.read()
    if len(payload) > settings.IMAGING_MAX_INSTANCE_BYTES:
        return IngestResult(
            status=IngestStatus.FAILED,
            failure_reason=FailureReason.OUT_OF_RESOURCES,
            message=f"Instance larger than {settings.IMAGING_MAX_INSTANCE_BYTES} bytes.",
        )
    try:
        parsed = instance_parse(payload)
    except DicomRejected as exc:
        return IngestResult(
            status=IngestStatus.FAILED, failure_reason=exc.reason, message=exc.message
        )
    if study_instance_uid is not None and parsed.study_instance_uid != study_instance_uid:
        return _failed(
            parsed,
            FailureReason.DATA_SET_DOES_NOT_MATCH,
            "The instance belongs to another study than the request's target.",
        )
    institution = Institution.objects.select_related("consortium").filter(pk=institution_id).first()
    actor = actor_for(user) if user is not None else None
    if institution is None or (
        user is not None and not institution_permits(actor, Action.STORE_IMAGES, institution)
    ):
        return _failed(parsed, FailureReason.NOT_AUTHORIZED, "Not allowed to store images here.")

    refusal = _refusal(parsed=parsed, user=user, institution=institution)
    if refusal is not None:
        return refusal
    existing = Instance.objects.filter(sop_instance_uid=parsed.sop_instance_uid).first()
    if existing is not None:
        return _resend(parsed=parsed, existing=existing, user=user, institution=institution)

    name = storage_name(parsed.sha256)
    # The file goes first: a database failure after it leaves an unreferenced file under a
    # content address, which the next store of the same bytes reuses. The reverse order
    # could leave a row pointing at nothing.
    blob_write(name, payload)
    try:
        return _index(parsed=parsed, name=name, source=source, institution=institution, user=user)
    except IntegrityError:
        # Another request stored the same SOP Instance UID between the check and the insert.
        existing = Instance.objects.filter(sop_instance_uid=parsed.sop_instance_uid).first()
        if existing is None:
            raise
        return _resend(parsed=parsed, existing=existing, user=user, institution=institution)


def _refusal(
    *, parsed: ParsedInstance, user: User | None, institution: Institution
) -> IngestResult | None:
    """Why the instance may not join the study or series its UIDs name, if they exist."""
    study = (
        Study.objects.select_related("institution")
        .filter(study_instance_uid=parsed.study_instance_uid)
        .first()
    )
    if study is None:
        series_elsewhere = Series.objects.filter(
            series_instance_uid=parsed.series_instance_uid
        ).exists()
        if series_elsewhere:
            return _failed(
                parsed, FailureReason.DATA_SET_DOES_NOT_MATCH, "The series is in another study."
            )
        return None
    # A door without a user (a registered calling AE title) acts as its institution.
    actor = actor_for(user) if user is not None else institution_actor(institution)
    allowed = study_permits(actor, Action.VIEW, study_subject(study))
    if not allowed:
        return _failed(parsed, FailureReason.NOT_AUTHORIZED, "Not allowed to add to this study.")
    if (study.dicom_patient_id, study.issuer_of_patient_id) != (
        parsed.patient_id,
        parsed.issuer_of_patient_id,
    ):
        return _failed(
            parsed,
            FailureReason.DATA_SET_DOES_NOT_MATCH,
            "PatientID or IssuerOfPatientID differs from the stored study.",
        )
    series = Series.objects.filter(series_instance_uid=parsed.series_instance_uid).first()
    if series is not None and series.study_id != study.pk:
        return _failed(
            parsed, FailureReason.DATA_SET_DOES_NOT_MATCH, "The series is in another study."
        )
    return None


def _resend(
    *, parsed: ParsedInstance, existing: Instance, user: User | None, institution: Institution
) -> IngestResult:
    # The data set decides, not the file: each door writes its own file meta, so the same
    # instance sent by STOW-RS and then by C-STORE arrives as different files. A row stored
    # before dataset hashes existed, whose file was missing then, has only the file hash.
    if parsed.dataset_sha256 == existing.dataset_sha256 or parsed.sha256 == existing.sha256:
        return _done(parsed, IngestStatus.ALREADY_STORED)
    actor = actor_for(user) if user is not None else None
    audit_record(
        user=user,
        action=AuditAction.CREATE,
        event="imaging.instance.conflict",
        outcome=AuditOutcome.FAILURE,
        actor_institution_id=actor.institution_id if actor else institution.pk,
        resource_type="Instance",
        resource_id=existing.pk,
        patient_id=existing.study.patient_id,
        detail={
            "sop_instance_uid": parsed.sop_instance_uid,
            "stored_sha256": existing.sha256,
            "refused_sha256": parsed.sha256,
            "stored_dataset_sha256": existing.dataset_sha256,
            "refused_dataset_sha256": parsed.dataset_sha256,
        },
    )
    logger.warning("Refused instance %s: same SOP Instance UID, other data set", existing.pk)
    return _failed(
        parsed,
        FailureReason.DUPLICATE_SOP_INSTANCE,
        "An instance with this SOP Instance UID and a different data set is already stored.",
    )


@transaction.atomic
def _index(
    *,
    parsed: ParsedInstance,
    name: str,
    source: IngestSource,
    institution: Institution,
    user: User | None,
) -> IngestResult:
    study, created = Study.objects.select_for_update().get_or_create(
        study_instance_uid=parsed.study_instance_uid,
        defaults=_study_fields(parsed=parsed, source=source, institution=institution),
    )
    series, series_created = Series.objects.get_or_create(
        series_instance_uid=parsed.series_instance_uid,
        defaults={
            "study": study,
            "modality": parsed.modality,
            "series_number": parsed.series_number,
            "series_description": parsed.series_description,
            "body_part_examined": parsed.body_part_examined,
        },
    )
    instance_url = reverse(
        "imaging:instance",
        kwargs={
            "study": parsed.study_instance_uid,
            "series": parsed.series_instance_uid,
            "instance": parsed.sop_instance_uid,
        },
    )
    metadata = instance_json(parsed, lambda path: f"{instance_url}/bulkdata/{path}")
    Instance.objects.create(
        study=study,
        series=series,
        sop_instance_uid=parsed.sop_instance_uid,
        sop_class_uid=parsed.sop_class_uid,
        instance_number=parsed.instance_number,
        transfer_syntax_uid=parsed.transfer_syntax_uid,
        number_of_frames=parsed.number_of_frames,
        sha256=parsed.sha256,
        dataset_sha256=parsed.dataset_sha256,
        storage_name=name,
        size_bytes=parsed.size,
        metadata=json.dumps(metadata, ensure_ascii=False, separators=(",", ":")),
        source=source,
        institution=institution,
        stored_by=user,
    )
    Series.objects.filter(pk=series.pk).update(
        instance_count=F("instance_count") + 1, revision=F("revision") + 1
    )
    if parsed.number_of_frames > 0:
        series_previews_request(series.pk)
    study_update: dict[str, object] = {
        "instance_count": F("instance_count") + 1,
        "size_bytes": F("size_bytes") + parsed.size,
        "revision": F("revision") + 1,
    }
    if series_created:
        study_update["series_count"] = F("series_count") + 1
        modalities = set(filter(None, study.modalities_in_study.split("\\")))
        study_update["modalities_in_study"] = "\\".join(sorted(modalities | {parsed.modality}))
    Study.objects.filter(pk=study.pk).update(**study_update)
    if created:
        actor = actor_for(user) if user is not None else None
        audit_record(
            user=user,
            action=AuditAction.CREATE,
            event="imaging.study.create",
            actor_institution_id=actor.institution_id if actor else institution.pk,
            resource_type="Study",
            resource_id=study.pk,
            patient_id=study.patient_id,
            patient_institution_id=study.patient.home_institution_id if study.patient else None,
            detail={"source": source.value, "matched": study.patient_id is not None},
        )
    return _done(parsed, IngestStatus.STORED)


def _study_fields(
    *, parsed: ParsedInstance, source: IngestSource, institution: Institution
) -> dict[str, object]:
    return {
        "institution": institution,
        "patient": _patient_match(
            institution=institution,
            patient_id=parsed.patient_id,
            issuer=parsed.issuer_of_patient_id,
        ),
        "source": source,
        "dicom_patient_id": parsed.patient_id,
        "issuer_of_patient_id": parsed.issuer_of_patient_id,
        "patient_name": parsed.patient_name,
        "patient_birth_date": parsed.patient_birth_date,
        "patient_sex": parsed.patient_sex,
        "study_date": parsed.study_date,
        "study_time": parsed.study_time,
        "accession_number": parsed.accession_number,
        "study_id": parsed.study_id,
        "study_description": parsed.study_description,
        "referring_physician_name": parsed.referring_physician_name,
    }
