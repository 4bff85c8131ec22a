"""The base class of every Celery task here: `delay_on_commit` goes through the outbox."""

from typing import Any

from celery import Task


class OutboxTask(Task[Any, Any]):
    """A task whose `delay_on_commit` survives a broker that is down at the commit.

    The server's Celery app makes it every task's class (server/celery.py); a task that is
    enqueued also names it as `base=` so the type checker knows `delay_on_commit`. There is no
    `apply_async_on_commit`: enqueuing has one way (tests/test_boundaries.py).
    """

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """Enqueue `self(*args, **kwargs)` once the surrounding transaction commits (now, if
        none): an outbox row in that transaction, sent at the commit or else by the sweep."""
        # Imported here: Celery loads this class with its app, before Django's models may be.
        from server.outbox.services import pending_task_add

        pending_task_add(task=self, args=list(args), kwargs=kwargs)
