"""Write outbox rows with the work they belong to, and hand them to the broker."""

import logging
from datetime import timedelta
from typing import Any

from celery import Task, current_app
from django.db import transaction
from django.utils import timezone

from server.lib.outages import RecentFailures
from server.outbox.models import PendingTask

logger = logging.getLogger(__name__)

# A row this young is still its own request's to send: the sweep leaves it alone, so a task
# goes out twice only when a sender died between the broker and the row's deletion.
SWEEP_GRACE = timedelta(seconds=30)
# Rows sent per sweep: a few seconds of work at most, well inside the task time limit; a
# backlog larger than that drains over the next runs.
SWEEP_BATCH = 500
# After a failure, commits leave their tasks to the sweep this long instead of each waiting on
# the broker again.
_broker_failures = RecentFailures(seconds=10)


def pending_task_add(*, task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any]) -> None:
    """Record `task(*args, **kwargs)` in the current transaction and send it once that commits.

    If the broker cannot take it then, the row stays for `pending_tasks_send`: the commit the
    user made is answered as a success either way.
    """
    pending = PendingTask.objects.create(task=task.name, args=args, kwargs=kwargs)
    transaction.on_commit(lambda: _send_after_commit(task, pending))


def _send_after_commit(task: Task[Any, Any], pending: PendingTask) -> None:
    broker = task.app.conf.broker_url
    if _broker_failures.recent(broker):
        logger.warning(
            "Task %s (outbox row %s) left to the sweep: the broker failed a moment ago",
            pending.task,
            pending.pk,
        )
        return
    try:
        # No publish retries: the outbox is the retry, and a request must not wait on a broker
        # that is down (settings make the connection attempt itself fail fast). Nobody reads
        # these tasks' results, so the result backend is not touched either.
        task.apply_async(pending.args, pending.kwargs, retry=False, ignore_result=True)
    except Exception as exc:  # whatever the broker raised, the work is committed
        _broker_failures.record(broker)
        logger.warning(
            "Task %s (outbox row %s) not enqueued, left to the sweep: %s: %s",
            pending.task,
            pending.pk,
            type(exc).__name__,
            exc,
        )
        return
    PendingTask.objects.filter(pk=pending.pk).delete()


@transaction.atomic
def pending_tasks_send(*, older_than: timedelta = SWEEP_GRACE) -> int:
    """Send the outbox rows older than `older_than`, oldest first; returns how many went.

    Stops at the first one the broker refuses: the rest wait for the next sweep. Overlapping
    sweeps skip each other's rows. A task may arrive twice (a sender died after the broker
    took it); tasks are idempotent (STYLE.md §5).
    """
    due = list(
        PendingTask.objects.filter(created_at__lte=timezone.now() - older_than)
        .order_by("pk")
        .select_for_update(skip_locked=True)[:SWEEP_BATCH]
    )
    sent = []
    for pending in due:
        try:
            # By name: the row outlives the process that wrote it, and only the worker that
            # runs the task needs it registered.
            current_app.send_task(
                pending.task,
                pending.args,
                pending.kwargs,
                retry=False,
                ignore_result=True,
                add_to_parent=False,
            )
        except Exception as exc:  # the broker is still down: try again on the next sweep
            logger.warning(
                "Outbox sweep stopped at row %s of %s due: %s: %s",
                pending.pk,
                len(due),
                type(exc).__name__,
                exc,
            )
            break
        sent.append(pending.pk)
    PendingTask.objects.filter(pk__in=sent).delete()
    if sent:
        logger.info("Outbox sweep sent %s tasks", len(sent))
    return len(sent)
