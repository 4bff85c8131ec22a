"""One ingest service for every door (STOW-RS, C-STORE, upload): check, store, index."""

import json
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse

from imaging.dicom import DicomRejected, FailureReason, ParsedInstance, instance_parse
from imaging.dicom_metadata import with_bulk_data_uris
from imaging.models import IngestSource, Instance, Series, Study
from imaging.services.previews import series_previews_request
from imaging.services.storage import blob_write, storage_name
from server.access import (
    Action,
    Actor,
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
    return instances_ingest(
        payloads=[payload],
        source=source,
        institution_id=institution_id,
        user=user,
        study_instance_uid=study_instance_uid,
    )[0]


def instances_ingest(
    *,
    payloads: list[bytes],
    source: IngestSource,
    institution_id: int,
    user: User | None,
    study_instance_uid: str | None = None,
) -> list[IngestResult]:
    """Check several DICOM instances (one STOW-RS request) and store each that may be stored.

    One result per payload, in order, as `instance_ingest` gives it. The accepted instances
    are indexed together in one transaction; a refused one writes nothing.
    """
    return _ingest(
        payloads=payloads,
        source=source,
        institution_id=institution_id,
        user=user,
        study_instance_uid=study_instance_uid,
        retry_one_by_one=True,
    )


@dataclass(frozen=True)
class _Accepted:
    parsed: ParsedInstance
    metadata: str  # the DICOM JSON text


def _checked(payload: bytes, study_instance_uid: str | None) -> ParsedInstance | IngestResult:
    """The parsed instance, or why it cannot be stored whatever the archive holds."""
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
    return parsed


def _ingest(
    *,
    payloads: list[bytes],
    source: IngestSource,
    institution_id: int,
    user: User | None,
    study_instance_uid: str | None,
    retry_one_by_one: bool,
) -> list[IngestResult]:
    checked = [_checked(payload, study_instance_uid) for payload in payloads]
    institution = Institution.objects.select_related("consortium").filter(pk=institution_id).first()
    actor = actor_for(user) if user is not None else None
    if institution is None or (
        user is not None and not institution_permits(actor, Action.STORE_IMAGES, institution)
    ):
        return [
            item
            if isinstance(item, IngestResult)
            else _failed(item, FailureReason.NOT_AUTHORIZED, "Not allowed to store images here.")
            for item in checked
        ]
    parsed = [item for item in checked if isinstance(item, ParsedInstance)]
    archive = _Archive.load(parsed)
    # A door without a user (a registered calling AE title) acts as its institution.
    study_actor = actor if user is not None else institution_actor(institution)
    results: dict[int, IngestResult] = {}
    accepted: dict[int, _Accepted] = {}
    later: list[int] = []  # a second copy of a SOP Instance UID in this batch
    for index, item in enumerate(checked):
        if isinstance(item, IngestResult):
            results[index] = item
            continue
        refusal = archive.refusal(item, study_actor)
        if refusal is not None:
            results[index] = refusal
            continue
        existing = archive.instances.get(item.sop_instance_uid)
        if existing is not None:
            results[index] = _resend(
                parsed=item, existing=existing, user=user, institution=institution
            )
            continue
        if any(a.parsed.sop_instance_uid == item.sop_instance_uid for a in accepted.values()):
            later.append(index)
            continue
        archive.claim(item)
        accepted[index] = _Accepted(parsed=item, metadata=_metadata(item))
    for index, ready in accepted.items():
        # The file goes first: a database failure after it leaves an unreferenced file under a
        # content address, which the next store of the same bytes reuses. The reverse order
        # could leave a row pointing at nothing.
        blob_write(storage_name(ready.parsed.sha256), payloads[index])
    try:
        _index(
            accepted=list(accepted.values()),
            archive=archive,
            source=source,
            institution=institution,
            user=user,
        )
        results.update(
            {index: _done(a.parsed, IngestStatus.STORED) for index, a in accepted.items()}
        )
    except IntegrityError:
        if not retry_one_by_one:
            raise
        # Another request stored one of these studies, series or instances between the look-up
        # and the insert: index them one at a time, each seeing what the others stored.
        later.extend(accepted)
    for index in sorted(later):
        results[index] = _ingest(
            payloads=[payloads[index]],
            source=source,
            institution_id=institution_id,
            user=user,
            study_instance_uid=study_instance_uid,
            retry_one_by_one=False,
        )[0]
    return [results[index] for index in range(len(payloads))]


def _metadata(parsed: ParsedInstance) -> str:
    """The instance's DICOM JSON text, with the URIs of its bulk data."""
    instance_url = reverse(
        "imaging:instance",
        kwargs={
            "study": parsed.study_instance_uid,
            "series": parsed.series_instance_uid,
            "instance": parsed.sop_instance_uid,
        },
    )
    metadata = with_bulk_data_uris(parsed.metadata, lambda path: f"{instance_url}/bulkdata/{path}")
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))


@dataclass
class _Archive:
    """What the archive already holds of a batch's studies, series and instances."""

    studies: dict[str, Study]
    series: dict[str, Series]
    instances: dict[str, Instance]
    # Studies and series the batch creates: study UID -> its first instance; series -> study UID.
    new_studies: dict[str, ParsedInstance] = field(default_factory=dict)
    new_series: dict[str, str] = field(default_factory=dict)
    may_add: dict[int, bool] = field(default_factory=dict)  # study id -> actor may add to it

    @classmethod
    def load(cls, parsed: list[ParsedInstance]) -> "_Archive":
        return cls(
            studies={
                s.study_instance_uid: s
                for s in Study.objects.select_related("institution").filter(
                    study_instance_uid__in={p.study_instance_uid for p in parsed}
                )
            },
            series={
                s.series_instance_uid: s
                for s in Series.objects.filter(
                    series_instance_uid__in={p.series_instance_uid for p in parsed}
                )
            },
            instances={
                i.sop_instance_uid: i
                for i in Instance.objects.select_related("study").filter(
                    sop_instance_uid__in={p.sop_instance_uid for p in parsed}
                )
            },
        )

    def refusal(self, parsed: ParsedInstance, actor: Actor | None) -> IngestResult | None:
        """Why the instance may not join the study or series its UIDs name, if they exist."""
        study = self.studies.get(parsed.study_instance_uid)
        series = self.series.get(parsed.series_instance_uid)
        series_study = self.new_series.get(parsed.series_instance_uid)
        if study is None:
            if series is not None or series_study not in (None, parsed.study_instance_uid):
                return _failed(
                    parsed, FailureReason.DATA_SET_DOES_NOT_MATCH, "The series is in another study."
                )
            first = self.new_studies.get(parsed.study_instance_uid)
            if first is not None and _patient_ids(first) != _patient_ids(parsed):
                return _patient_differs(parsed)
            return None
        if study.pk not in self.may_add:
            self.may_add[study.pk] = study_permits(actor, Action.VIEW, study_subject(study))
        if not self.may_add[study.pk]:
            return _failed(
                parsed, FailureReason.NOT_AUTHORIZED, "Not allowed to add to this study."
            )
        if (study.dicom_patient_id, study.issuer_of_patient_id) != _patient_ids(parsed):
            return _patient_differs(parsed)
        if (series is not None and series.study_id != study.pk) or series_study not in (
            None,
            parsed.study_instance_uid,
        ):
            return _failed(
                parsed, FailureReason.DATA_SET_DOES_NOT_MATCH, "The series is in another study."
            )
        return None

    def claim(self, parsed: ParsedInstance) -> None:
        """Note that the batch creates the instance's study and series if they are new."""
        if parsed.study_instance_uid not in self.studies:
            self.new_studies.setdefault(parsed.study_instance_uid, parsed)
        if parsed.series_instance_uid not in self.series:
            self.new_series.setdefault(parsed.series_instance_uid, parsed.study_instance_uid)


def _patient_ids(parsed: ParsedInstance) -> tuple[str, str]:
    return (parsed.patient_id, parsed.issuer_of_patient_id)


def _patient_differs(parsed: ParsedInstance) -> IngestResult:
    return _failed(
        parsed,
        FailureReason.DATA_SET_DOES_NOT_MATCH,
        "PatientID or IssuerOfPatientID differs from the stored study.",
    )


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
    accepted: list[_Accepted],
    archive: _Archive,
    source: IngestSource,
    institution: Institution,
    user: User | None,
) -> None:
    """Index the accepted instances: new studies and series, the instances, the counts.

    Raises: IntegrityError when a concurrent request created one of the rows first.
    """
    if not accepted:
        return
    by_study: dict[str, list[ParsedInstance]] = {}
    by_series: dict[str, list[ParsedInstance]] = {}
    for item in accepted:
        by_study.setdefault(item.parsed.study_instance_uid, []).append(item.parsed)
        by_series.setdefault(item.parsed.series_instance_uid, []).append(item.parsed)
    # A stored study that gains a series gets its modalities rewritten: lock it and read them
    # afresh. Counts alone are incremented in the database, with no lock needed.
    studies = {uid: archive.studies[uid] for uid in by_study if uid in archive.studies}
    gaining = [
        study.pk
        for uid, study in studies.items()
        if any(p.series_instance_uid not in archive.series for p in by_study[uid])
    ]
    if gaining:
        studies.update(
            {
                s.study_instance_uid: s
                for s in Study.objects.select_for_update().filter(pk__in=gaining).order_by("pk")
            }
        )
    created_studies = Study.objects.bulk_create(
        [
            Study(
                study_instance_uid=uid,
                **_study_fields(parsed=first, source=source, institution=institution),
                series_count=len({p.series_instance_uid for p in by_study[uid]}),
                instance_count=len(by_study[uid]),
                size_bytes=sum(p.size for p in by_study[uid]),
                modalities_in_study=_modalities("", by_study[uid]),
                revision=1,
            )
            for uid, first in archive.new_studies.items()
            if uid in by_study
        ]
    )
    studies.update({s.study_instance_uid: s for s in created_studies})
    series = dict(archive.series)
    series.update(
        {
            s.series_instance_uid: s
            for s in Series.objects.bulk_create(
                [
                    Series(
                        study=studies[first.study_instance_uid],
                        series_instance_uid=uid,
                        modality=first.modality,
                        series_number=first.series_number,
                        series_description=first.series_description,
                        body_part_examined=first.body_part_examined,
                        instance_count=len(members),
                        revision=1,
                    )
                    for uid, members in by_series.items()
                    if uid not in archive.series
                    for first in members[:1]
                ]
            )
        }
    )
    Instance.objects.bulk_create(
        [
            Instance(
                study=studies[item.parsed.study_instance_uid],
                series=series[item.parsed.series_instance_uid],
                sop_instance_uid=item.parsed.sop_instance_uid,
                sop_class_uid=item.parsed.sop_class_uid,
                instance_number=item.parsed.instance_number,
                transfer_syntax_uid=item.parsed.transfer_syntax_uid,
                number_of_frames=item.parsed.number_of_frames,
                frame_fragments=item.parsed.frame_fragments,
                sha256=item.parsed.sha256,
                dataset_sha256=item.parsed.dataset_sha256,
                storage_name=storage_name(item.parsed.sha256),
                size_bytes=item.parsed.size,
                metadata=item.metadata,
                source=source,
                institution=institution,
                stored_by=user,
            )
            for item in accepted
        ],
        # One INSERT a row: for several rows Django binds each column as one array, and
        # psycopg escapes every quote of the metadata JSON into it, some 3 ms an instance.
        batch_size=1,
    )
    for uid, members in by_series.items():
        if uid in archive.series:
            Series.objects.filter(pk=series[uid].pk).update(
                instance_count=F("instance_count") + len(members), revision=F("revision") + 1
            )
        if any(p.number_of_frames > 0 for p in members):
            series_previews_request(series[uid].pk)
    for uid, members in by_study.items():
        if uid not in archive.studies:
            continue
        study = studies[uid]
        new_series = {p.series_instance_uid for p in members} - set(archive.series)
        changes: dict[str, object] = {
            "instance_count": F("instance_count") + len(members),
            "size_bytes": F("size_bytes") + sum(p.size for p in members),
            "revision": F("revision") + 1,
        }
        if new_series:
            changes["series_count"] = F("series_count") + len(new_series)
            changes["modalities_in_study"] = _modalities(study.modalities_in_study, members)
        Study.objects.filter(pk=study.pk).update(**changes)
    for study in created_studies:
        _audit_created(study=study, source=source, institution=institution, user=user)


def _modalities(stored: str, members: list[ParsedInstance]) -> str:
    modalities = set(filter(None, stored.split("\\"))) | {p.modality for p in members}
    return "\\".join(sorted(filter(None, modalities)))


def _audit_created(
    *, study: Study, source: IngestSource, institution: Institution, user: User | None
) -> None:
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
