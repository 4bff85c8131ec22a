"""Ingest outcomes, and the rules that refuse an instance or take it as a resend, given what
the archive already holds."""

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from imaging import sql
from imaging.dicom import FailureReason, ParsedInstance
from server.access import Action, Actor, StudySubject, actor_for, study_permits
from server.accounts.models import User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record
from server.directory.models import Institution

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

    @classmethod
    def failed(cls, parsed: ParsedInstance, reason: FailureReason, message: str) -> "IngestResult":
        """The refusal of a parsed instance, naming it."""
        return cls(
            status=IngestStatus.FAILED,
            sop_class_uid=parsed.sop_class_uid,
            sop_instance_uid=parsed.sop_instance_uid,
            study_instance_uid=parsed.study_instance_uid,
            series_instance_uid=parsed.series_instance_uid,
            failure_reason=reason,
            message=message,
        )

    @classmethod
    def done(cls, parsed: ParsedInstance, status: IngestStatus) -> "IngestResult":
        """The success (stored, or already stored) of a parsed instance, naming it."""
        return cls(
            status=status,
            sop_class_uid=parsed.sop_class_uid,
            sop_instance_uid=parsed.sop_instance_uid,
            study_instance_uid=parsed.study_instance_uid,
            series_instance_uid=parsed.series_instance_uid,
        )


@dataclass(frozen=True)
class StoredStudy:
    """What ingest needs of a stored study."""

    pk: int
    study_instance_uid: str
    subject: StudySubject
    dicom_patient_id: str
    issuer_of_patient_id: str
    modalities_in_study: str


@dataclass(frozen=True)
class StoredSeries:
    pk: int
    study_id: int


@dataclass(frozen=True)
class StoredInstance:
    pk: int
    sha256: str
    dataset_sha256: str
    patient_id: int | None  # the consortium patient of its study


def _stored_study(row: tuple[Any, ...]) -> StoredStudy:
    """A study row of `imaging.sql` (`sql.STUDY_ROW`)."""
    pk, uid, institution_id, consortium_id, patient_id, dicom_patient_id, issuer, modalities = row
    return StoredStudy(
        pk=pk,
        study_instance_uid=uid,
        subject=StudySubject(
            owner_institution_id=institution_id,
            owner_consortium_id=consortium_id,
            patient_id=patient_id,
        ),
        dicom_patient_id=dicom_patient_id,
        issuer_of_patient_id=issuer,
        modalities_in_study=modalities,
    )


@dataclass
class IngestBatch:
    """What the archive already holds of a batch's studies, series and instances."""

    studies: dict[str, StoredStudy]
    series: dict[str, StoredSeries]
    instances: dict[str, StoredInstance]
    # Studies and series the batch creates: study UID -> its first instance; series -> study UID.
    new_studies: dict[str, ParsedInstance] = field(default_factory=dict)
    new_series: dict[str, str] = field(default_factory=dict)
    may_add: dict[int, bool] = field(default_factory=dict)  # study id -> actor may add to it

    @classmethod
    def load(cls, parsed: list[ParsedInstance]) -> "IngestBatch":
        if not parsed:
            return cls(studies={}, series={}, instances={})
        # The look-ups run for every instance stored (each C-STORE is one), so they are written
        # in SQL and give plain rows. The series bring their studies along, so a batch that adds
        # to stored series (every C-STORE after a series' first) asks for studies only when one
        # is not reached that way.
        series_rows, instance_rows = sql.archive_series_and_instances(
            series_uids=list({p.series_instance_uid for p in parsed}),
            sop_uids=list({p.sop_instance_uid for p in parsed}),
        )
        series: dict[str, StoredSeries] = {}
        studies: dict[str, StoredStudy] = {}
        for series_uid, series_pk, *study_row in series_rows:
            study = _stored_study(tuple(study_row))
            series[series_uid] = StoredSeries(pk=series_pk, study_id=study.pk)
            studies[study.study_instance_uid] = study
        unreached = {p.study_instance_uid for p in parsed} - studies.keys()
        if unreached:
            studies.update(
                (study.study_instance_uid, study)
                for study in map(_stored_study, sql.archive_studies(list(unreached)))
            )
        instances = {
            uid: StoredInstance(
                pk=pk, sha256=sha256, dataset_sha256=dataset_sha256, patient_id=patient_id
            )
            for uid, pk, sha256, dataset_sha256, patient_id in instance_rows
        }
        return cls(studies=studies, series=series, instances=instances)

    def refusal(self, parsed: ParsedInstance, actor: Actor | None) -> IngestResult | None:
        """Why the instance may not join the study or series its UIDs name, if they exist."""
        study = self.studies.get(parsed.study_instance_uid)
        series = self.series.get(parsed.series_instance_uid)
        series_study = self.new_series.get(parsed.series_instance_uid)
        if study is None:
            if series is not None or series_study not in (None, parsed.study_instance_uid):
                return IngestResult.failed(
                    parsed, FailureReason.DATA_SET_DOES_NOT_MATCH, "The series is in another study."
                )
            first = self.new_studies.get(parsed.study_instance_uid)
            if first is not None and _patient_ids(first) != _patient_ids(parsed):
                return _patient_differs(parsed)
            return None
        if study.pk not in self.may_add:
            self.may_add[study.pk] = study_permits(actor, Action.VIEW, study.subject)
        if not self.may_add[study.pk]:
            return IngestResult.failed(
                parsed, FailureReason.NOT_AUTHORIZED, "Not allowed to add to this study."
            )
        if (study.dicom_patient_id, study.issuer_of_patient_id) != _patient_ids(parsed):
            return _patient_differs(parsed)
        if (series is not None and series.study_id != study.pk) or series_study not in (
            None,
            parsed.study_instance_uid,
        ):
            return IngestResult.failed(
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
    return IngestResult.failed(
        parsed,
        FailureReason.DATA_SET_DOES_NOT_MATCH,
        "PatientID or IssuerOfPatientID differs from the stored study.",
    )


def resend_outcome(
    *,
    parsed: ParsedInstance,
    existing: StoredInstance,
    user: User | None,
    institution: Institution,
) -> IngestResult:
    """The outcome for an instance whose SOP Instance UID is stored: a no-op for the same data
    set, else a refusal, audited as a conflict."""
    # The data set decides, not the file: each door writes its own file meta, so the same
    # instance sent by STOW-RS and then by C-STORE arrives as different files. A row stored
    # before dataset hashes existed, whose file was missing then, has only the file hash.
    if parsed.dataset_sha256 == existing.dataset_sha256 or parsed.sha256 == existing.sha256:
        return IngestResult.done(parsed, IngestStatus.ALREADY_STORED)
    actor = actor_for(user) if user is not None else None
    audit_record(
        user=user,
        action=AuditAction.CREATE,
        event="imaging.instance.conflict",
        outcome=AuditOutcome.FAILURE,
        actor_institution_id=actor.institution_id if actor else institution.pk,
        resource_type="Instance",
        resource_id=existing.pk,
        patient_id=existing.patient_id,
        detail={
            "sop_instance_uid": parsed.sop_instance_uid,
            "stored_sha256": existing.sha256,
            "refused_sha256": parsed.sha256,
            "stored_dataset_sha256": existing.dataset_sha256,
            "refused_dataset_sha256": parsed.dataset_sha256,
        },
    )
    logger.warning("Refused instance %s: same SOP Instance UID, other data set", existing.pk)
    return IngestResult.failed(
        parsed,
        FailureReason.DUPLICATE_SOP_INSTANCE,
        "An instance with this SOP Instance UID and a different data set is already stored.",
    )
