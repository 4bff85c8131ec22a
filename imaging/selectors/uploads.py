"""Resumable browser upload reads: an upload as its owner sees it."""

import uuid

from django.utils import timezone

from imaging.models import Upload
from server.access import NotFound
from server.accounts.models import User


def upload_get_for_owner(*, user: User, upload_id: uuid.UUID) -> Upload:
    """The user's own upload, unless it expired. Raises: NotFound for anyone else's."""
    upload = Upload.objects.filter(
        pk=upload_id, owner_id=user.pk, expires_at__gt=timezone.now()
    ).first()
    if upload is None:
        raise NotFound
    return upload
