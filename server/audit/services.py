"""Write the audit trail and verify its hash chain.

Audited reads, the one convention every app follows:
- A read of patient data is audited where it happens: the selector that reads it records the
  read before returning, and its docstring says so ("the read is audited"). Denied reads are
  recorded too, with `AuditOutcome.DENIED`, before the `NotFound`.
- A selector writes nothing but these records, and only through the trail's read-record
  functions: `audit_record` here, or an app's read records built on it, which live in one
  module per app (imaging's `imaging/services/viewings.py`: once per viewing session). These
  are the only services a selector imports, and it imports them from that module by name.
- A read that the caller completes (a page the view cuts from a selector's queryset) is
  recorded by the caller, through a service (consult's `consult_list_record`).
- Every other write, however small, is a service's. `tests/test_boundaries.py` holds this.
"""

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from server import sql
from server.access import Action, practitioners_permitted
from server.accounts.models import User
from server.audit.context import client_address
from server.audit.models import AuditAction, AuditChainHead, AuditEvent, AuditOutcome
from server.directory.models import Practitioner
from server.notifications.models import NotificationKind
from server.notifications.services import notification_send

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
HEAD_ID = 1


def _canonical(event: AuditEvent) -> bytes:
    fields = {
        "seq": event.seq,
        "recorded_at": event.recorded_at.isoformat(timespec="microseconds"),
        "action": event.action,
        "event": event.event,
        "outcome": event.outcome,
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "actor_institution_id": event.actor_institution_id,
        "client_address": event.client_address,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "patient_id": event.patient_id,
        "patient_institution_id": event.patient_institution_id,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _storable(value: Any) -> Any:
    """The value with every NUL byte shown as U+FFFD: PostgreSQL's text and jsonb refuse NUL,
    and an input that carried one must still be recorded."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


def audit_event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


@transaction.atomic(savepoint=False)  # a failed append fails the caller's transaction too
def audit_record(
    *,
    user: User | AnonymousUser | None,
    action: AuditAction,
    event: str,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    actor_institution_id: int | None = None,
    resource_type: str = "",
    resource_id: object = "",
    patient_id: int | None = None,
    patient_institution_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain (three statements: advance the head, insert, link)."""
    # Advancing the head takes its row lock, so appends are serialised and each one links to
    # the one before it.
    head = sql.audit_head_advance(HEAD_ID)
    if head is None:
        # Only a wiped database lacks the head (test flushes); a new chain starts.
        AuditChainHead.objects.create(pk=HEAD_ID, seq=1, last_hash=GENESIS_HASH)
        head = (1, GENESIS_HASH)
    seq, prev_hash = head
    authenticated = user is not None and user.is_authenticated
    row = AuditEvent(
        seq=seq,
        recorded_at=timezone.now(),
        action=action,
        event=event,
        outcome=outcome,
        actor_id=user.pk if authenticated and user is not None else None,
        actor_username=user.get_username() if authenticated and user is not None else "",
        actor_institution_id=actor_institution_id,
        client_address=client_address.get(),
        resource_type=resource_type,
        resource_id=_storable(str(resource_id)),
        patient_id=patient_id,
        patient_institution_id=patient_institution_id,
        detail=_storable(detail or {}),
        prev_hash=prev_hash,
    )
    row.hash = audit_event_hash(row)
    row.save(force_insert=True)
    # The ORM's update: within noise of a hand-written one for the whole append (bench/README.md).
    AuditChainHead.objects.filter(pk=HEAD_ID).update(last_hash=row.hash)
    return row


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


def audit_chain_breaks(*, batch_size: int = 2000) -> Iterator[ChainBreak]:
    """Walk the chain in order and yield every place where it does not hold."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for row in AuditEvent.objects.order_by("seq").iterator(chunk_size=batch_size):
        if row.seq != expected_seq:
            yield ChainBreak(expected_seq, f"rows {expected_seq}..{row.seq - 1} are missing")
        if row.prev_hash != expected_prev:
            yield ChainBreak(row.seq, "does not link to the row before it")
        if audit_event_hash(row) != row.hash:
            yield ChainBreak(row.seq, "content does not match its hash (altered)")
        expected_prev = row.hash
        expected_seq = row.seq + 1
    head = AuditChainHead.objects.get(pk=HEAD_ID)
    if head.seq != expected_seq - 1 or head.last_hash != expected_prev:
        yield ChainBreak(expected_seq, f"the chain head expects {head.seq} rows (tail removed)")


def audit_verify_and_alert() -> int:
    """Verify the chain; if it is broken, alert every institution admin. Returns the breaks."""
    breaks = list(audit_chain_breaks())
    if breaks:
        logger.error(
            "Audit chain broken in %d place(s), first at seq %d", len(breaks), breaks[0].seq
        )
        # The admins keep their institution's audit trail.
        admins = Practitioner.objects.filter(
            practitioners_permitted(Action.VIEW_AUDIT)
        ).values_list("user_id", flat=True)
        notification_send(recipient_ids=list(admins), kind=NotificationKind.AUDIT_CHAIN_BROKEN)
    return len(breaks)
