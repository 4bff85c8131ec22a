"""Tasks enqueued by committed transactions that the broker has not taken yet."""

from django.db import models
from django.utils import timezone


class PendingTask(models.Model):
    """One `task.delay_on_commit(*args, **kwargs)`, written in the caller's transaction.

    Deleted once the broker has the message; a row that stays (Redis was down at the commit,
    or the process died before sending) is sent by the sweep.
    """

    task = models.CharField(max_length=200)  # the registered Celery task name
    args = models.JSONField(default=list, blank=True)  # ids and JSON primitives (STYLE.md §5)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="outbox_pending_created_idx")]

    def __str__(self) -> str:
        return f"{self.task} {self.args}"
