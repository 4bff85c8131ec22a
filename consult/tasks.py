"""Celery tasks of consults, each one service call."""

from celery import shared_task

from consult.services import consult_deadlines_sweep


@shared_task
def consult_deadlines_sweep_task() -> int:
    """Safe to run twice at once: the unique escalation row lets only one sweep escalate."""
    return consult_deadlines_sweep()
