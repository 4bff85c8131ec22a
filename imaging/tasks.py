"""Celery tasks of the image archive, each one service call."""

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from imaging.services import series_previews_render


@shared_task(
    base=DjangoTask, acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def series_previews_render_task(series_id: int) -> None:
    series_previews_render(series_id=series_id)
