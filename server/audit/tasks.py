"""Audit trail tasks."""

from celery import shared_task

from server.audit.services import audit_verify_and_alert


@shared_task
def audit_verify_task() -> int:
    return audit_verify_and_alert()
