"""The one live socket per browser tab: relays the user's events from the channel layer."""

from typing import Any

from channels.db import database_sync_to_async

from server.audit.context import client_address
from server.lib.sockets import LiveSocketConsumer
from server.notifications.events import UnreadCountChanged
from server.notifications.selectors import live_groups_for, unread_count

CLOSE_UNAUTHENTICATED = 4401


class UserEventsConsumer(LiveSocketConsumer):
    """Joins the user's group and forwards every live event published to it."""

    joined_groups: tuple[str, ...] = ()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        client = self.scope.get("client") or ("", 0)
        client_address.set(str(client[0]))
        self.joined_groups = await database_sync_to_async(live_groups_for)(user_id=user.pk)
        for group in self.joined_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        # Events missed while the socket was down are not replayed; the count puts the badge right.
        count = await database_sync_to_async(unread_count)(user_id=user.pk)
        await self.send_json(UnreadCountChanged(unread_count=count).model_dump(mode="json"))

    async def disconnect(self, code: int) -> None:
        for group in self.joined_groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """The socket is server-to-client only (but for `live.ping`, answered by the base):
        anything sent is ignored, unparsed, so a frame that is not JSON cannot fail it."""

    async def live_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["payload"])

    async def live_session_ended(self, message: dict[str, Any]) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED)
