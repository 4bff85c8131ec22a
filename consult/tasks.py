"""Celery tasks of consults, each one service call."""

from celery import shared_task

from consult.messaging import consult_message_send
from consult.services import consult_deadlines_sweep
from server.outbox.base import OutboxTask


@shared_task
def consult_deadlines_sweep_task() -> int:
    """Safe to run twice at once: the unique escalation row lets only one sweep escalate."""
    return consult_deadlines_sweep()


# Gateways fail with network errors (OSError covers ConnectionError and TimeoutError); the
# backoff stays under the broker's visibility timeout.
@shared_task(
    base=OutboxTask,  # delay_on_commit
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=5,
)
def consult_message_send_task(message_id: int) -> None:
    """Safe to run twice: a message that is no longer pending is skipped."""
    consult_message_send(message_id=message_id)
