"""Live events: typed messages published to channel-layer groups once the transaction commits."""

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from pydantic import BaseModel, ConfigDict

from server.lib.outages import RecentFailures

logger = logging.getLogger(__name__)

# Long enough for a busy Redis, short enough that a request whose commit publishes several
# events does not hang on one that does not answer.
PUBLISH_TIMEOUT_SECONDS = 1.0
# After a failure, events skip the channel layer this long instead of each waiting on it.
_layer_failures = RecentFailures(seconds=10)

# Channel-layer message type every relaying consumer handles (method name `live_event`).
LIVE_EVENT = "live.event"
# Channel-layer message type that makes a user's consumers close their sockets.
SESSION_ENDED = "live.session_ended"


class Event(BaseModel):
    """Base of every outbound live event; `type` is prefixed by the owning app."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def department_group(department_id: int) -> str:
    """The specialists of one department: its shared queue's events go out in one send."""
    return f"department.{department_id}"


def coordinators_group(consortium_id: int) -> str:
    """The coordinators of one consortium: their shared boards' events go out in one send."""
    return f"coordinators.{consortium_id}"


def session_group(user_id: int) -> str:
    """Every live socket of the user joins this group, so signing out everywhere closes them."""
    return f"sessions.{user_id}"


def _group_send(group: str, message: dict[str, Any]) -> None:
    """Best effort: the commit that published happened, so a channel layer that is down or
    slow is logged and never fails it. Pages load their state over HTTP; a live event only
    says what changed, and a reload shows it."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("No channel layer is configured.")

    payload_type = message.get("payload", {}).get("type", "")
    if _layer_failures.recent(layer):
        logger.warning(
            "Live event %s %s to group %s not sent: the channel layer failed a moment ago",
            message["type"],
            payload_type,
            group,
        )
        return

    async def send() -> None:
        await asyncio.wait_for(layer.group_send(group, message), PUBLISH_TIMEOUT_SECONDS)

    try:
        async_to_sync(send)()
    except Exception as exc:  # whatever Redis or the layer raised
        _layer_failures.record(layer)
        # The group names ids only; the message may carry patient data, so it is not logged.
        logger.warning(
            "Live event %s %s to group %s not sent: %s: %s",
            message["type"],
            payload_type,
            group,
            type(exc).__name__,
            exc,
        )


def publish_on_commit(group: str, event: Event) -> None:
    """Send `event` to `group` after the surrounding transaction commits (now, if none)."""
    message = {"type": LIVE_EVENT, "payload": event.model_dump(mode="json")}
    transaction.on_commit(lambda: _group_send(group, message))


def end_sessions_on_commit(user_id: int) -> None:
    """Close every live socket of the user after the surrounding transaction commits."""
    transaction.on_commit(lambda: _group_send(session_group(user_id), {"type": SESSION_ENDED}))
