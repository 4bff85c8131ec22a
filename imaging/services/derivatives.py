"""Diagnostic-quality lossy copies of large single-frame images, made by a worker after ingest
and sent by WADO-RS frames to clients that ask for JPEG 2000 irreversible (slow links)."""

import hashlib
import logging

from django.conf import settings
from django.core.files.storage import default_storage

from imaging.budget import HOLD_WAIT_SECONDS, process_budget
from imaging.lossy import JPEG2000_LOSSY, frame_lossy_encode, lossy_worthwhile
from imaging.models import Instance
from imaging.render import RenderError, dataset_read, decode_admit
from imaging.services.storage import blob_write

logger = logging.getLogger(__name__)

# Bump when the encoding changes, so new copies get new content keys instead of old files.
LOSSY_ENCODER_VERSION = 1


def lossy_frame_storage_name(*, instance_sha256: str, ratio: int) -> str:
    """The deterministic content key of an instance's lossy frame at this ratio."""
    key = hashlib.sha256(
        f"{instance_sha256}:0:{JPEG2000_LOSSY}:{ratio}:{LOSSY_ENCODER_VERSION}".encode()
    ).hexdigest()
    return f"derivatives/{key[:2]}/{key[2:4]}/{key}.j2k"


def _worthwhile(instance: Instance) -> bool:
    return lossy_worthwhile(
        metadata=instance.metadata,
        number_of_frames=instance.number_of_frames,
        transfer_syntax=instance.transfer_syntax_uid,
        stored_bytes=instance.size_bytes,
    )


def _encoded(instance: Instance, ratio: int) -> bytes:
    """Raises: RenderError (DecodeTooLarge above the decode cap); BudgetSpent when the
    process's decode budget stays spent (imaging.budget)."""
    with default_storage.open(instance.storage_name, "rb") as handle:
        ds = dataset_read(handle.read())
    limit = settings.IMAGING_DECODE_MAX_BYTES
    cost = decode_admit(ds, max_bytes=limit)
    # A web process encodes on request too (instance_lossy_frame), beside its other decodes.
    with process_budget(settings.IMAGING_DECODE_BUDGET_BYTES).hold(cost, wait=HOLD_WAIT_SECONDS):
        return frame_lossy_encode(ds, ratio=ratio, max_bytes=limit)


def series_lossy_frames_request(*, series_id: int) -> list[int]:
    """Queue a lossy copy, after the commit, of each image of the series that should have one
    at the configured ratio and lacks it; returns the instance ids queued."""
    # Imported here because the task module imports this one.
    from imaging.tasks import instance_lossy_frame_render_task

    ratio = settings.IMAGING_LOSSY_RATIO
    if ratio == 0:
        return []
    candidates = (
        Instance.objects.filter(series_id=series_id, number_of_frames=1)
        .exclude(lossy_frame_ratio=ratio)
        .only("pk", "metadata", "number_of_frames", "transfer_syntax_uid", "size_bytes")
    )
    queued = [instance.pk for instance in candidates if _worthwhile(instance)]
    for instance_id in queued:
        instance_lossy_frame_render_task.delay_on_commit(instance_id)
    return queued


def instance_lossy_frame_render(*, instance_id: int) -> str | None:
    """Make the instance's lossy copy at the configured ratio and record it on the instance.

    Returns its storage name, or None when there is nothing to do (no copy wanted, already
    made, or the frame cannot be decoded). Safe to run twice: the copy goes under a content key
    and is recorded with a conditional update. Raises: OSError from storage, for a retry.
    """
    ratio = settings.IMAGING_LOSSY_RATIO
    instance = Instance.objects.filter(pk=instance_id).first()
    if (
        ratio == 0
        or instance is None
        or instance.lossy_frame_ratio == ratio
        or not _worthwhile(instance)
    ):
        return None
    try:
        data = _encoded(instance, ratio)
    except RenderError as exc:
        logger.warning("No lossy frame for instance %s: %s", instance_id, exc)
        return None
    name = lossy_frame_storage_name(instance_sha256=instance.sha256, ratio=ratio)
    blob_write(name, data)
    Instance.objects.filter(pk=instance_id).exclude(lossy_frame_ratio=ratio).update(
        lossy_frame_name=name, lossy_frame_ratio=ratio
    )
    return name


def instance_lossy_frame(*, instance: Instance) -> bytes | None:
    """The instance's frame as a JPEG 2000 irreversible codestream at the configured ratio, or
    None for an image that gets no lossy copy (small, multi-frame, colour, stored lossy).

    The copy made at ingest when it is there; else encoded now (about a second for a chest
    radiograph), because the lossless frame would take minutes on the slow link that asked.
    Raises: RenderError when the frame cannot be decoded or encoded.
    """
    ratio = settings.IMAGING_LOSSY_RATIO
    if ratio == 0:
        return None
    if instance.lossy_frame_ratio == ratio and instance.lossy_frame_name:
        with default_storage.open(instance.lossy_frame_name, "rb") as handle:
            stored: bytes = handle.read()
        return stored
    # Checked only now: the frames view loads instances without their metadata.
    if not _worthwhile(instance):
        return None
    return _encoded(instance, ratio)
