"""One ingest service for every door (STOW-RS, C-STORE, upload): check, store, index."""

from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError
from django.urls import reverse

from imaging.dicom import DicomRejected, FailureReason, ParsedInstance, instance_parse
from imaging.dicom_metadata import bulk_data_uris_resolve
from imaging.models import IngestSource
from imaging.services.ingest_index import AcceptedInstance, instances_index
from imaging.services.ingest_rules import (
    IngestBatch,
    IngestResult,
    IngestStatus,
    resend_outcome,
)
from imaging.services.storage import blob_write, storage_name
from server.access import Action, actor_for, institution_actor, institution_permits
from server.accounts.models import User
from server.directory.models import Institution


def instance_ingest(
    *,
    data: bytes | BinaryIO,
    source: IngestSource,
    institution: Institution | None,
    user: User | None,
    study_instance_uid: str | None = None,
) -> IngestResult:
    """Check one DICOM instance and store it, or say precisely why not.

    Nothing is written for a rejected instance. `institution` (its consortium loaded) stores
    it; None refuses it. `user` is None only for doors that authorise by other means (a
    registered calling AE title, whose institution the caller holds for the association).
    `study_instance_uid` is the target study of a STOW-RS request, which every instance must
    belong to.
    """
    payload = data if isinstance(data, bytes) else data.read()
    return instances_ingest(
        payloads=[payload],
        source=source,
        institution=institution,
        user=user,
        study_instance_uid=study_instance_uid,
    )[0]


def instances_ingest(
    *,
    payloads: list[bytes],
    source: IngestSource,
    institution: Institution | None,
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
        institution=institution,
        user=user,
        study_instance_uid=study_instance_uid,
        retry_one_by_one=True,
    )


def _checked(payload: bytes, study_instance_uid: str | None) -> ParsedInstance | IngestResult:
    """The parsed instance, or why it cannot be stored whatever the archive holds."""
    if len(payload) > settings.IMAGING_MAX_INSTANCE_BYTES:
        return IngestResult(
            status=IngestStatus.FAILED,
            failure_reason=FailureReason.OUT_OF_RESOURCES,
            message=f"Instance larger than {settings.IMAGING_MAX_INSTANCE_BYTES} bytes.",
        )
    try:
        parsed = instance_parse(payload, max_inflated=settings.IMAGING_MAX_INSTANCE_BYTES)
    except DicomRejected as exc:
        return IngestResult(
            status=IngestStatus.FAILED, failure_reason=exc.reason, message=exc.message
        )
    if study_instance_uid is not None and parsed.study_instance_uid != study_instance_uid:
        return IngestResult.failed(
            parsed,
            FailureReason.DATA_SET_DOES_NOT_MATCH,
            "The instance belongs to another study than the request's target.",
        )
    return parsed


def _ingest(
    *,
    payloads: list[bytes],
    source: IngestSource,
    institution: Institution | None,
    user: User | None,
    study_instance_uid: str | None,
    retry_one_by_one: bool,
) -> list[IngestResult]:
    checked = [_checked(payload, study_instance_uid) for payload in payloads]
    actor = actor_for(user) if user is not None else None
    if institution is None or (
        user is not None and not institution_permits(actor, Action.STORE_IMAGES, institution)
    ):
        return [
            item
            if isinstance(item, IngestResult)
            else IngestResult.failed(
                item, FailureReason.NOT_AUTHORIZED, "Not allowed to store images here."
            )
            for item in checked
        ]
    parsed = [item for item in checked if isinstance(item, ParsedInstance)]
    archive = IngestBatch.load(parsed)
    # A door without a user (a registered calling AE title) acts as its institution. What the
    # actor may see bounds both the studies it adds to and the patients its new studies match.
    # (A user without an actor was refused above.)
    study_actor = actor if actor is not None else institution_actor(institution)
    results: dict[int, IngestResult] = {}
    accepted: dict[int, AcceptedInstance] = {}
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
            results[index] = resend_outcome(
                parsed=item, existing=existing, user=user, institution=institution
            )
            continue
        if any(a.parsed.sop_instance_uid == item.sop_instance_uid for a in accepted.values()):
            later.append(index)
            continue
        archive.claim(item)
        accepted[index] = AcceptedInstance(parsed=item, metadata=_metadata(item))
    for index, ready in accepted.items():
        # The file goes first: a database failure after it leaves an unreferenced file under a
        # content address, which the next store of the same bytes reuses. The reverse order
        # could leave a row pointing at nothing.
        blob_write(storage_name(ready.parsed.sha256), payloads[index])
    try:
        instances_index(
            accepted=list(accepted.values()),
            archive=archive,
            source=source,
            institution=institution,
            user=user,
            actor=study_actor,
        )
        results.update(
            {
                index: IngestResult.done(a.parsed, IngestStatus.STORED)
                for index, a in accepted.items()
            }
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
            institution=institution,
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
    return bulk_data_uris_resolve(parsed.metadata_json, f"{instance_url}/bulkdata/")
