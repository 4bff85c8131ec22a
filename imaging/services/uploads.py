"""Resumable browser uploads (the tus protocol): one DICOM file per upload, received in pieces,
then checked against the client's SHA-256 and stored through the one ingest service."""

import hashlib
import logging
import re
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from imaging.errors import (
    UploadChecksumMismatch,
    UploadLimitReached,
    UploadOffsetMismatch,
    UploadRefused,
    UploadTooLarge,
)
from imaging.models import IngestSource, Upload, UploadState
from imaging.services.ingest import instance_ingest
from imaging.services.ingest_rules import IngestStatus
from server.access import Action, NotFound, actor_for, institution_permits
from server.accounts.models import User
from server.directory.errors import NotAllowed
from server.directory.models import Institution
from server.directory.selectors import institution_get

logger = logging.getLogger(__name__)

CHECKSUM_REFUSAL = "checksum"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def upload_part_name(upload_id: uuid.UUID, offset: int) -> str:
    """Where the piece received at `offset` lives in the default storage until the upload ends."""
    return f"uploads/{upload_id}-{offset:012d}.part"


@transaction.atomic
def upload_create(*, user: User, length: int, sha256: str, file_name: str) -> Upload:
    """Open an upload of one DICOM file for a doctor who may store images at their institution.

    Raises: NotAllowed; UploadTooLarge; UploadLimitReached; UploadRefused for a bad declaration.
    """
    actor = actor_for(user)
    institution = (
        Institution.objects.filter(pk=actor.institution_id).first() if actor is not None else None
    )
    if institution is None or not institution_permits(actor, Action.STORE_IMAGES, institution):
        raise NotAllowed(_("Only the institution's doctors may upload images."))
    if length > settings.IMAGING_MAX_INSTANCE_BYTES:
        raise UploadTooLarge(
            _("The file is larger than %(max)d MB.")
            % {"max": settings.IMAGING_MAX_INSTANCE_BYTES // (1024 * 1024)}
        )
    if length <= 0:
        raise UploadRefused(_("The file is empty."))
    if not _SHA256_HEX.match(sha256):
        raise UploadRefused(_("The file's SHA-256 must be given as 64 lowercase hex digits."))
    # Lock the user's row so two requests at once cannot both slip under the limit.
    User.objects.select_for_update().filter(pk=user.pk).first()
    now = timezone.now()
    unfinished = Upload.objects.filter(
        owner=user, state=UploadState.RECEIVING, expires_at__gt=now
    ).count()
    if unfinished >= settings.IMAGING_UPLOADS_OPEN_PER_USER:
        raise UploadLimitReached(
            _("You have %(count)d unfinished uploads; let them finish first.")
            % {"count": unfinished}
        )
    return Upload.objects.create(
        owner=user,
        institution=institution,
        file_name=file_name[:255],
        length=length,
        sha256=sha256,
        expires_at=now + timedelta(seconds=settings.IMAGING_UPLOAD_EXPIRY_SECONDS),
    )


@transaction.atomic
def upload_append(
    *, user: User, upload_id: uuid.UUID, offset: int, chunk: bytes, chunk_sha256: bytes | None
) -> Upload:
    """Add the piece that starts at `offset`; after the last byte, check and ingest the file.

    Raises: NotFound; UploadOffsetMismatch when the upload is elsewhere or finished (the client
    asks for the offset and resumes from there); UploadChecksumMismatch; UploadRefused when the
    piece goes beyond the declared length.
    """
    # The row lock makes "check the offset, write the piece, move the offset" one step, so a
    # retried request or a second server process cannot write the same range twice.
    upload = (
        Upload.objects.select_for_update()
        .filter(pk=upload_id, owner_id=user.pk, expires_at__gt=timezone.now())
        .first()
    )
    if upload is None:
        raise NotFound
    if upload.state != UploadState.RECEIVING or offset != upload.offset:
        raise UploadOffsetMismatch(upload.offset)
    if offset + len(chunk) > upload.length:
        raise UploadRefused(_("More bytes were sent than the file's declared length."))
    if chunk_sha256 is not None and hashlib.sha256(chunk).digest() != chunk_sha256:
        raise UploadChecksumMismatch
    if not chunk:
        return upload
    name = upload_part_name(upload.pk, offset)
    # A piece left by a request that died before its commit has this name: replace it.
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(chunk))
    upload.offset = offset + len(chunk)
    upload.save(update_fields=["offset"])
    if upload.offset == upload.length:
        _upload_finish(upload=upload, user=user)
    return upload


def _upload_finish(*, upload: Upload, user: User) -> None:
    """Join the pieces, check the whole file's SHA-256 and ingest it; record the outcome."""
    data = bytearray()
    while len(data) < upload.length:
        with default_storage.open(upload_part_name(upload.pk, len(data)), "rb") as part:
            data += part.read()
    upload_id = upload.pk
    # The pieces go once the outcome is committed; a rollback leaves them for a retry.
    transaction.on_commit(lambda: _parts_delete(upload_id))
    if hashlib.sha256(data).hexdigest() != upload.sha256:
        logger.warning("Upload %s refused: SHA-256 differs from the declared one", upload.pk)
        upload.state = UploadState.REFUSED
        upload.refusal_reason = CHECKSUM_REFUSAL
        upload.save(update_fields=["state", "refusal_reason"])
        return
    result = instance_ingest(
        data=bytes(data),
        source=IngestSource.UPLOAD,
        institution=institution_get(institution_id=upload.institution_id),
        user=user,
    )
    if result.status is IngestStatus.FAILED:
        assert result.failure_reason is not None  # a failed ingest always names its reason
        upload.state = UploadState.REFUSED
        upload.refusal_reason = result.failure_reason.name
        upload.refusal_detail = result.message
    elif result.status is IngestStatus.ALREADY_STORED:
        upload.state = UploadState.ALREADY_STORED
    else:
        upload.state = UploadState.STORED
    upload.study_instance_uid = result.study_instance_uid
    upload.series_instance_uid = result.series_instance_uid
    upload.sop_instance_uid = result.sop_instance_uid
    upload.save()
    logger.info("Upload %s ended %s", upload.pk, upload.state)


def _parts_delete(upload_id: uuid.UUID) -> None:
    """Delete the pieces of an upload, following them from offset 0 as they were written."""
    offset = 0
    name = upload_part_name(upload_id, offset)
    while default_storage.exists(name):
        offset += default_storage.size(name)
        default_storage.delete(name)
        name = upload_part_name(upload_id, offset)


@transaction.atomic
def upload_delete(*, user: User, upload_id: uuid.UUID) -> None:
    """End the user's upload at their request (tus termination) and drop what it received."""
    upload = (
        Upload.objects.select_for_update()
        .filter(pk=upload_id, owner_id=user.pk, expires_at__gt=timezone.now())
        .first()
    )
    if upload is None:
        raise NotFound
    upload.delete()
    transaction.on_commit(lambda: _parts_delete(upload_id))


def uploads_expired_delete(*, now: datetime | None = None) -> int:
    """Delete expired uploads and their pieces; return how many went. Safe to run twice."""
    cutoff = now or timezone.now()
    deleted = 0
    for upload_id in Upload.objects.filter(expires_at__lte=cutoff).values_list("pk", flat=True):
        # Pieces first: if this run dies midway, the row is still there for the next run.
        _parts_delete(upload_id)
        deleted += Upload.objects.filter(pk=upload_id).delete()[0]
    return deleted
