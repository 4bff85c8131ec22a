"""Key images of an opinion: pictures of the study, drawn with their annotations in the browser,
added to the draft and frozen into the version when it is signed."""

import hashlib
import io
from typing import cast

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from consult.audit import consult_audit
from consult.errors import InvalidAttachment, InvalidTransition
from consult.models import ConsultRequest, ConsultStudy, OpinionKeyImage
from consult.selectors import consult_get_for_user
from consult.services.opinions import AMENDABLE, WRITING, opinion_draft_for
from server.access import ConsultAction, NotFound, actor_for
from server.accounts.models import User
from server.audit.models import AuditAction

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEY_IMAGE_MAX_BYTES = 8 * 1024 * 1024
KEY_IMAGE_MAX_SIDE = 4096
KEY_IMAGES_PER_VERSION = 12
# Grey levels a key image must span: one flat colour is a render that failed, not a picture.
BLANK_SPREAD = 2
# What the viewer says it displayed when the picture was taken (frontend/src/viewer/handle.ts).
DIAGNOSTIC = "diagnostic"


def _checked_png(png: bytes) -> tuple[int, int]:
    """The PNG's width and height.

    Raises: InvalidAttachment when it is not a whole PNG of a sensible size.
    """
    if not png:
        raise InvalidAttachment("The image is empty.", field="image")
    if len(png) > KEY_IMAGE_MAX_BYTES:
        raise InvalidAttachment(
            f"The image is {len(png)} bytes; at most {KEY_IMAGE_MAX_BYTES} are allowed.",
            field="image",
        )
    if not png.startswith(PNG_SIGNATURE):
        raise InvalidAttachment("A key image must be a PNG.", field="image")
    try:
        with Image.open(io.BytesIO(png)) as image:
            image.verify()
            size: tuple[int, int] = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InvalidAttachment("The PNG is damaged or incomplete.", field="image") from error
    if max(size) > KEY_IMAGE_MAX_SIDE or min(size) < 1:
        raise InvalidAttachment(
            f"A key image is at most {KEY_IMAGE_MAX_SIDE} pixels on each side.", field="image"
        )
    with Image.open(io.BytesIO(png)) as image:
        # A one-band image gives (low, high) as numbers.
        low, high = cast("tuple[float, float]", image.convert("L").getextrema())
    if high - low < BLANK_SPREAD:
        raise InvalidAttachment(
            _("The key image is blank: the image was not drawn. Nothing was added."),
            field="image",
        )
    return size


@transaction.atomic
def opinion_key_image_add(
    *,
    consult_id: int,
    actor_user: User,
    study_instance_uid: str,
    sop_instance_uid: str,
    caption: str,
    png: bytes,
    displayed: str = DIAGNOSTIC,
) -> OpinionKeyImage:
    """Add an image of one of the consult's studies to the opinion draft.

    The invited doctors (the signer and MDT members) add them while the opinion is written, or
    to an amendment the signer has started.
    `displayed` is what the viewer says it showed: a key image is made only of the diagnostic
    image, never of a preview or of a render that failed.
    Raises: NotFound; InvalidTransition; InvalidAttachment naming `image`.
    """
    if displayed != DIAGNOSTIC:
        raise InvalidAttachment(
            _("A key image is made only of the diagnostic image on screen."), field="image"
        )
    consult_get_for_user(
        user=actor_user, consult_id=consult_id, action=ConsultAction.CONTRIBUTE, audit=False
    )
    consult = (
        ConsultRequest.objects.select_for_update(of=("self",))
        .select_related("patient")
        .get(pk=consult_id)
    )
    if consult.status not in WRITING | AMENDABLE:
        raise InvalidTransition("Key images are added while the opinion is written.", field="image")
    if not ConsultStudy.objects.filter(
        consult=consult, study__study_instance_uid=study_instance_uid
    ).exists():
        raise InvalidAttachment("The study is not attached to this consult.", field="study")
    width, height = _checked_png(png)
    draft = opinion_draft_for(consult, amendment_reason="")
    if draft.key_images.count() >= KEY_IMAGES_PER_VERSION:
        raise InvalidAttachment(
            f"An opinion has at most {KEY_IMAGES_PER_VERSION} key images.", field="image"
        )
    actor = actor_for(actor_user)
    assert actor is not None  # consult_get_for_user allowed the actor
    key_image = OpinionKeyImage(
        version=draft,
        study_instance_uid=study_instance_uid,
        sop_instance_uid=sop_instance_uid,
        caption=caption.strip(),
        sha256=hashlib.sha256(png).hexdigest(),
        size=len(png),
        width=width,
        height=height,
        added_by_id=actor.practitioner_id,
    )
    key_image.file.save(f"{key_image.sha256}.png", ContentFile(png), save=False)
    key_image.save()
    _audit(actor_user, consult, key_image, AuditAction.CREATE)
    return key_image


@transaction.atomic
def opinion_key_image_remove(*, consult_id: int, actor_user: User, key_image_id: int) -> None:
    """Take a key image out of the draft; signed versions keep theirs.

    Raises: NotFound, also for key images of signed versions.
    """
    consult = consult_get_for_user(
        user=actor_user, consult_id=consult_id, action=ConsultAction.CONTRIBUTE, audit=False
    )
    key_image = OpinionKeyImage.objects.filter(
        pk=key_image_id, version__opinion__consult=consult, version__signed_at__isnull=True
    ).first()
    if key_image is None:
        raise NotFound
    key_image.delete()
    _audit(actor_user, consult, key_image, AuditAction.DELETE)


def _audit(
    user: User, consult: ConsultRequest, key_image: OpinionKeyImage, action: AuditAction
) -> None:
    consult_audit(
        user=user,
        action=action,
        event="consult.opinion_key_image",
        consult=consult,
        resource_type="OpinionKeyImage",
        resource_id=key_image.sha256,
        detail={
            "consult_id": consult.pk,
            "version_id": key_image.version_id,
            "sop_instance_uid": key_image.sop_instance_uid,
        },
    )
