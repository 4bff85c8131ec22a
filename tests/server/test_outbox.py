"""The task outbox on the real PostgreSQL and Redis: a row per enqueue, sent at the commit or
by the sweep. Redis refusing at the commit is tests/integration/test_redis_down.py."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from imaging.tasks import series_previews_render_task
from server.celery import app as celery_app
from server.outbox.base import OutboxTask
from server.outbox.models import PendingTask
from server.outbox.services import SWEEP_GRACE, pending_tasks_send
from tests.lib.broker import queued_args

CaptureCallbacks = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]
PREVIEW_TASK = "imaging.tasks.series_previews_render_task"
# No series has this id: the task would find nothing to render, and nothing runs it here.
SERIES_ID = 987_654_321


def test_every_task_enqueues_through_the_outbox() -> None:
    celery_app.loader.import_default_modules()
    ours = {name: task for name, task in celery_app.tasks.items() if not name.startswith("celery.")}
    assert PREVIEW_TASK in ours
    assert [name for name, task in ours.items() if not isinstance(task, OutboxTask)] == []


def test_the_sweep_is_scheduled_and_every_scheduled_task_exists() -> None:
    celery_app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert "server.outbox.tasks.pending_tasks_send_task" in scheduled
    assert scheduled <= set(celery_app.tasks)


def test_task_is_a_row_of_the_transaction_and_reaches_redis_at_the_commit(
    db: None, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        series_previews_render_task.delay_on_commit(SERIES_ID)
        assert list(PendingTask.objects.values_list("task", "args")) == [
            (PREVIEW_TASK, [SERIES_ID])
        ]
        assert [SERIES_ID] not in queued_args(PREVIEW_TASK)

    assert [SERIES_ID] in queued_args(PREVIEW_TASK)
    assert not PendingTask.objects.exists()


def test_task_of_a_rolled_back_transaction_leaves_no_row(
    db: None, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    def work_that_fails() -> None:
        with transaction.atomic():
            series_previews_render_task.delay_on_commit(SERIES_ID + 1)
            raise RuntimeError("the work failed")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        work_that_fails()

    assert callbacks == []
    assert not PendingTask.objects.exists()


def test_sweep_leaves_young_rows_to_their_request_and_sends_the_older(db: None) -> None:
    # A row whose sender did not get it to the broker (Redis was down, or the process died).
    PendingTask.objects.create(task=PREVIEW_TASK, args=[SERIES_ID + 2])

    assert pending_tasks_send() == 0
    assert PendingTask.objects.count() == 1

    with time_machine.travel(timezone.now() + SWEEP_GRACE + timedelta(seconds=1)):
        assert pending_tasks_send() == 1
    assert [SERIES_ID + 2] in queued_args(PREVIEW_TASK)
    assert not PendingTask.objects.exists()
