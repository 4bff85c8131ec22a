"""Per-series thumbnails and previews, rendered by a Celery worker after ingest."""

import hashlib
import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from imaging import sql
from imaging.models import Instance, PreviewState, Series
from imaging.render import (
    RenderError,
    Viewport,
    dataset_read,
    frame_render,
    image_encode,
    image_fit,
)
from imaging.services.derivatives import series_lossy_frames_request
from imaging.services.storage import blob_write

logger = logging.getLogger(__name__)

THUMBNAIL_VIEWPORT = Viewport(width=128, height=128)
PREVIEW_VIEWPORT = Viewport(width=512, height=512)
PREVIEW_MEDIA_TYPE = "image/jpeg"
PREVIEW_QUALITY = 85
# Bump when rendering changes, so new previews get new content keys instead of old files.
PREVIEW_RENDERER_VERSION = 1


def series_previews_request(series_ids: list[int]) -> None:
    """Mark the series' previews out of date and queue one rendering each for after the commit.

    A series already waiting for a worker gets no second task: that one renders whatever the
    series holds when it runs. A rendering in progress loses its claim and is redone.
    """
    # Imported here because the task module imports this one.
    from imaging.tasks import series_previews_render_task

    if not series_ids:
        return
    # One statement for the whole batch, naming the series that were not yet waiting.
    requested = sql.series_previews_mark(series_ids=series_ids, state=PreviewState.PENDING)
    for series_id in requested:
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
    full = frame_render(ds, 0, max_bytes=settings.IMAGING_DECODE_MAX_BYTES)
    names = []
    for viewport in (THUMBNAIL_VIEWPORT, PREVIEW_VIEWPORT):
        name = preview_storage_name(
            instance_sha256=instance.sha256, viewport=viewport, media_type=PREVIEW_MEDIA_TYPE
        )
        if not default_storage.exists(name):
            image = image_fit(full, viewport)
            blob_write(name, image_encode(image, PREVIEW_MEDIA_TYPE, PREVIEW_QUALITY))
        names.append(name)
    return names[0], names[1]


def series_previews_render(*, series_id: int) -> PreviewState | None:
    """Render the series' thumbnail and viewport-sized preview from its middle image, and
    queue the lossy copies of its large images (imaging.services.derivatives).

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
    # Large radiographs get a lossy copy for slow links too; other workers make those meanwhile.
    series_lossy_frames_request(series_id=series_id)
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
