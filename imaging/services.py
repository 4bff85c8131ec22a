"""Image archive writes: one ingest service for every door, patient reconciliation, read marks."""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from imaging.dicom import (
    DicomRejected,
    FailureReason,
    ParsedInstance,
    instance_json,
    instance_parse,
)
from imaging.errors import StudyAlreadyMatched
from imaging.models import (
    CallingAETitle,
    IngestSource,
    Instance,
    PreviewState,
    Series,
    Study,
    StudyViewing,
    ViewingKind,
)
from imaging.render import (
    RenderError,
    Viewport,
    dataset_read,
    frame_render,
    image_encode,
    image_fit,
)
from server.access import (
    Action,
    NotFound,
    StudySubject,
    actor_for,
    institution_actor,
    institution_permits,
    patient_permits,
    study_permits,
)
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record
from server.directory.models import Institution, Patient, Role

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


def storage_name(sha256: str) -> str:
    """Where the file with this SHA-256 lives in the default storage."""
    return f"dicom/{sha256[:2]}/{sha256[2:4]}/{sha256}.dcm"


def _blob_write(name: str, data: bytes) -> None:
    """Write content-addressed bytes once; a complete existing copy is kept as it is."""
    if default_storage.exists(name):
        if default_storage.size(name) == len(data):
            return
        # A copy cut short by a crash during an earlier write: replace it.
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:
        # A concurrent writer won the race with the same content; drop the alternate copy.
        default_storage.delete(saved)


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
    _blob_write(name, payload)
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
    if existing.sha256 == parsed.sha256:
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
        },
    )
    logger.warning("Refused instance %s: same SOP Instance UID, other bytes", existing.pk)
    return _failed(
        parsed,
        FailureReason.DUPLICATE_SOP_INSTANCE,
        "An instance with this SOP Instance UID and different content is already stored.",
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
        _series_previews_request(series.pk)
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


@transaction.atomic
def study_patient_link(*, user: User, study_id: int, patient_id: int) -> Study:
    """Reconcile an unmatched study with a consortium patient (coordinators only).

    Raises: NotFound when the study or patient is not the coordinator's to see;
    StudyAlreadyMatched.
    """
    actor = actor_for(user)
    study = (
        Study.objects.select_for_update().select_related("institution").filter(pk=study_id).first()
    )
    patient = Patient.objects.filter(pk=patient_id, merged_into__isnull=True).first()
    if (
        actor is None
        or not actor.has(Role.COORDINATOR)
        or study is None
        or patient is None
        or not study_permits(actor, Action.VIEW, study_subject(study))
        or not patient_permits(actor, Action.VIEW, patient)
    ):
        raise NotFound
    if study.patient_id is not None:
        raise StudyAlreadyMatched
    study.patient = patient
    study.revision += 1
    study.save(update_fields=["patient", "revision", "updated_at"])
    audit_record(
        user=user,
        action=AuditAction.UPDATE,
        event="imaging.study.link",
        actor_institution_id=actor.institution_id,
        resource_type="Study",
        resource_id=study.pk,
        patient_id=patient.pk,
        patient_institution_id=patient.home_institution_id,
    )
    return study


def study_viewing_record(
    *,
    user: User | AnonymousUser,
    studies: list[Study],
    session: str,
    kind: ViewingKind,
) -> None:
    """Audit the studies this viewing session had not yet seen in this way; once each."""
    actor = actor_for(user)
    if not studies or actor is None:
        return
    seen = set(
        StudyViewing.objects.filter(
            user_id=actor.user_id, session=session, kind=kind, study__in=[s.pk for s in studies]
        ).values_list("study_id", flat=True)
    )
    fresh = [s for s in studies if s.pk not in seen]
    if not fresh:
        return
    with transaction.atomic():
        StudyViewing.objects.bulk_create(
            [
                StudyViewing(user_id=actor.user_id, study=s, session=session, kind=kind)
                for s in fresh
            ],
            ignore_conflicts=True,
        )
        event = "imaging.study.search" if kind is ViewingKind.SEARCH else "imaging.study.read"
        if len(fresh) == 1:
            study = fresh[0]
            audit_record(
                user=user,
                action=AuditAction.READ,
                event=event,
                actor_institution_id=actor.institution_id,
                resource_type="Study",
                resource_id=study.pk,
                patient_id=study.patient_id,
                patient_institution_id=study.patient.home_institution_id if study.patient else None,
            )
        else:
            audit_record(
                user=user,
                action=AuditAction.READ,
                event=event,
                actor_institution_id=actor.institution_id,
                resource_type="Study",
                detail={
                    "study_ids": [s.pk for s in fresh],
                    "patient_ids": sorted({s.patient_id for s in fresh if s.patient_id}),
                },
            )


def study_reads_record_for_ae(
    *,
    calling_ae: CallingAETitle,
    studies: list[Study],
    kind: ViewingKind,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
) -> None:
    """Audit studies a calling AE title found or retrieved (or was refused) in one request.

    The DIMSE door passes each study once per association, as the web passes it once per
    viewing session.
    """
    if not studies:
        return
    event = "imaging.study.search" if kind is ViewingKind.SEARCH else "imaging.study.read"
    single = studies[0] if len(studies) == 1 else None
    audit_record(
        user=None,
        action=AuditAction.READ,
        event=event,
        outcome=outcome,
        actor_institution_id=calling_ae.institution_id,
        resource_type="Study",
        resource_id=single.pk if single else "",
        patient_id=single.patient_id if single else None,
        patient_institution_id=single.patient.home_institution_id
        if single and single.patient
        else None,
        detail={
            "calling_ae_title": calling_ae.ae_title,
            **(
                {}
                if single
                else {
                    "study_ids": [s.pk for s in studies],
                    "patient_ids": sorted({s.patient_id for s in studies if s.patient_id}),
                }
            ),
        },
    )


# --- Previews ------------------------------------------------------------------------------------
THUMBNAIL_VIEWPORT = Viewport(width=128, height=128)
PREVIEW_VIEWPORT = Viewport(width=512, height=512)
PREVIEW_MEDIA_TYPE = "image/jpeg"
PREVIEW_QUALITY = 85
# Bump when rendering changes, so new previews get new content keys instead of old files.
PREVIEW_RENDERER_VERSION = 1


def _series_previews_request(series_id: int) -> None:
    """Mark the series' previews out of date and queue one rendering for after the commit.

    A series already waiting for a worker gets no second task: that one renders whatever the
    series holds when it runs. A rendering in progress loses its claim and is redone.
    """
    # Imported here because the task module imports this one.
    from imaging.tasks import series_previews_render_task

    requested = (
        Series.objects.filter(pk=series_id)
        .exclude(preview_state=PreviewState.PENDING)
        .update(preview_state=PreviewState.PENDING, preview_claimed_at=None)
    )
    if requested:
        series_previews_render_task.delay_on_commit(series_id)


def preview_storage_name(*, instance_sha256: str, viewport: Viewport, media_type: str) -> str:
    """The deterministic content key of one rendered image of an instance's first frame."""
    key = hashlib.sha256(
        f"{instance_sha256}:0:{viewport.width}x{viewport.height}:{media_type}:"
        f"{PREVIEW_RENDERER_VERSION}".encode()
    ).hexdigest()
    extension = media_type.removeprefix("image/")
    return f"previews/{key[:2]}/{key[2:4]}/{key}.{extension}"


def _previews_write(instance: Instance) -> tuple[str, str]:
    with default_storage.open(instance.storage_name, "rb") as handle:
        ds = dataset_read(handle.read())
    full = frame_render(ds, 0)
    names = []
    for viewport in (THUMBNAIL_VIEWPORT, PREVIEW_VIEWPORT):
        name = preview_storage_name(
            instance_sha256=instance.sha256, viewport=viewport, media_type=PREVIEW_MEDIA_TYPE
        )
        if not default_storage.exists(name):
            image = image_fit(full, viewport)
            _blob_write(name, image_encode(image, PREVIEW_MEDIA_TYPE, PREVIEW_QUALITY))
        names.append(name)
    return names[0], names[1]


def series_previews_render(*, series_id: int) -> PreviewState | None:
    """Render the series' thumbnail and viewport-sized preview from its middle image.

    Returns the state reached, or None when there was nothing to claim (already rendered, or
    another worker holds a live claim). Safe to run twice: the work is claimed with a
    conditional update, outputs go under content keys, and only the claim holder marks the
    series ready. A claim older than the task time limit belongs to a lost worker and is taken
    over. Raises: OSError from storage, after giving the claim back for a retry.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    claimed = (
        Series.objects.filter(pk=series_id)
        .filter(
            Q(preview_state=PreviewState.PENDING)
            | Q(preview_state=PreviewState.RENDERING, preview_claimed_at__lt=stale)
        )
        .update(preview_state=PreviewState.RENDERING, preview_claimed_at=now)
    )
    if not claimed:
        return None
    mine = Series.objects.filter(
        pk=series_id, preview_state=PreviewState.RENDERING, preview_claimed_at=now
    )
    # The middle image in viewing order, as imaging.selectors.series_preview_source picks it.
    images = Instance.objects.filter(series_id=series_id, number_of_frames__gt=0).order_by(
        "instance_number", "pk"
    )
    source = images[images.count() // 2 :].first()
    if source is None:
        mine.update(preview_state=PreviewState.NONE, preview_claimed_at=None)
        return PreviewState.NONE
    try:
        thumbnail, preview = _previews_write(source)
    except RenderError as exc:
        logger.warning("No preview for series %s from instance %s: %s", series_id, source.pk, exc)
        mine.update(preview_state=PreviewState.FAILED, preview_claimed_at=None)
        return PreviewState.FAILED
    except OSError:
        mine.update(preview_state=PreviewState.PENDING, preview_claimed_at=None)
        raise
    done = mine.update(
        preview_state=PreviewState.READY,
        preview_claimed_at=None,
        thumbnail_name=thumbnail,
        preview_name=preview,
    )
    # Losing the claim means new instances arrived meanwhile; their own task renders again.
    return PreviewState.READY if done else None
