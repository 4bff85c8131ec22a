"""Celery tasks of the image archive, each one service call."""

from celery import shared_task

from imaging.services import (
    instance_lossy_frame_render,
    series_previews_render,
    uploads_expired_delete,
)
from server.outbox.base import OutboxTask


@shared_task(
    base=OutboxTask, acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def series_previews_render_task(series_id: int) -> None:
    series_previews_render(series_id=series_id)


@shared_task(
    base=OutboxTask, acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def instance_lossy_frame_render_task(instance_id: int) -> None:
    instance_lossy_frame_render(instance_id=instance_id)


@shared_task(
    base=OutboxTask, acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def uploads_expired_delete_task() -> None:
    uploads_expired_delete()
