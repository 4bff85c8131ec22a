"""Outbox tasks."""

from celery import shared_task

from server.outbox.services import pending_tasks_send


@shared_task
def pending_tasks_send_task() -> int:
    """Safe to run twice at once: each sweep locks the rows it sends and skips locked ones."""
    return pending_tasks_send()
