"""The Celery application. Tasks live in each app's tasks.py, thin over services."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")

# Every task's `delay_on_commit` writes an outbox row in the caller's transaction (server/outbox).
app = Celery("yunzhen", task_cls="server.outbox.base:OutboxTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Every minute: a task whose enqueue failed at its commit (Redis down) goes out within a
    # minute or two of Redis coming back, which for a preview is soon after the uploader looks.
    # Rows younger than 30 s are left to the request that wrote them; overlapping runs skip
    # each other's rows.
    "outbox-pending-tasks-send": {
        "task": "server.outbox.tasks.pending_tasks_send_task",
        "schedule": 60.0,
    },
    # Nightly, in the quiet hours, so a broken audit chain is noticed within a day.
    "audit-verify-nightly": {
        "task": "server.audit.tasks.audit_verify_task",
        "schedule": crontab(hour=3, minute=17),
    },
    # Every minute: the shortest deadline is a critical consult's 10 minutes to accept, so a
    # miss is escalated within a minute of it. Overlapping runs are harmless (one escalation
    # row per consult and deadline).
    "consult-deadlines-sweep": {
        "task": "consult.tasks.consult_deadlines_sweep_task",
        "schedule": 60.0,
    },
    # Hourly: unfinished browser uploads expire after days, so an hour late costs little disk,
    # and a run finds few rows. Overlapping runs delete each upload once.
    "imaging-uploads-expired-delete": {
        "task": "imaging.tasks.uploads_expired_delete_task",
        "schedule": crontab(minute=41),
    },
}
