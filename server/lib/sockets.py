"""The base of Yunzhen's WebSocket consumers."""

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class LiveSocketConsumer(AsyncJsonWebsocketConsumer):
    """A JSON WebSocket consumer whose handlers reach the database only through
    `database_sync_to_async`.

    Channels runs Django's `close_old_connections` before every handler, in the process's one
    shared sync thread: a thread hop per message, taken one message at a time. An event for a
    queue of a hundred sockets then waits for a hundred hops in each daphne process.
    `database_sync_to_async` already closes stale connections around each database call, so
    these consumers skip that per-message hop.
    """

    async def dispatch(self, message: dict[str, Any]) -> None:
        # The handler naming rule of Channels: "live.event" -> live_event, never a private name.
        name = str(message["type"]).replace(".", "_")
        handler = None if name.startswith("_") else getattr(self, name, None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
