"""The base of Yunzhen's WebSocket consumers."""

import json
from typing import Any, Literal

from asgiref.typing import WebSocketReceiveEvent
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from server.lib.events import Event

# A ping is tiny; anything longer is some other message and goes to the consumer unparsed here.
_PING_MAX_LENGTH = 64


class LivePing(Event):
    """Inbound on every socket: the browser checks that the connection still carries messages
    (a rural link can leave a socket open that nothing reaches)."""

    type: Literal["live.ping"]


class LivePong(Event):
    """The answer to `live.ping`, on every socket."""

    type: Literal["live.pong"]


_PONG = LivePong(type="live.pong").model_dump_json()


def _is_ping(text: str | None) -> bool:
    if text is None or len(text) > _PING_MAX_LENGTH:
        return False
    try:
        return bool(json.loads(text) == {"type": "live.ping"})
    except ValueError:
        return False


class LiveSocketConsumer(AsyncJsonWebsocketConsumer):
    """A JSON WebSocket consumer whose handlers reach the database only through
    `database_sync_to_async`.

    Channels runs Django's `close_old_connections` before every handler, in the process's one
    shared sync thread: a thread hop per message, taken one message at a time. An event for a
    queue of a hundred sockets then waits for a hundred hops in each daphne process.
    `database_sync_to_async` already closes stale connections around each database call, so
    these consumers skip that per-message hop.

    Every socket answers `live.ping` with `live.pong` before the consumer sees the frame, so
    one browser client (`frontend/src/lib/socket.ts`) can tell a live connection from a dead one
    on any page.
    """

    async def websocket_receive(self, message: WebSocketReceiveEvent) -> None:
        if _is_ping(message.get("text")):
            await self.send(text_data=_PONG)
            return
        await super().websocket_receive(message)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # The handler naming rule of Channels: "live.event" -> live_event, never a private name.
        name = str(message["type"]).replace(".", "_")
        handler = None if name.startswith("_") else getattr(self, name, None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
