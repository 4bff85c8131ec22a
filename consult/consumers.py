"""The consult room socket: relays one consult's live events to the people allowed to view it."""

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth.models import AnonymousUser

from consult.events import consult_group
from consult.models import ConsultRequest
from consult.selectors import consult_facts, consult_get_for_user
from server.access import ConsultAction, NotFound, actor_for, consult_permits
from server.accounts.models import User
from server.audit.context import client_address
from server.lib.events import session_group

CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def consult_room_may_stay(*, user_id: int, consult_id: int) -> bool:
    """Whether the user may still view the consult (not audited: the join was)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    consult = ConsultRequest.objects.filter(pk=consult_id).first()
    if user is None or consult is None:
        return False
    return consult_permits(actor_for(user), ConsultAction.VIEW, consult_facts(consult=consult))


def consult_room_may_join(*, user_id: int, consult_id: int) -> bool:
    """Whether the user may view the consult; the attempt is audited as a read either way."""
    user = User.objects.filter(pk=user_id).first()
    try:
        consult_get_for_user(user=user or AnonymousUser(), consult_id=consult_id)
    except NotFound:
        return False
    return True


class ConsultConsumer(AsyncJsonWebsocketConsumer):
    """Server to client only for now; video signaling and shared review will add messages."""

    joined_groups: tuple[str, ...] = ()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        client = self.scope.get("client") or ("", 0)
        client_address.set(str(client[0]))
        consult_id = int(self.scope["url_route"]["kwargs"]["consult_id"])
        if not await database_sync_to_async(consult_room_may_join)(
            user_id=user.pk, consult_id=consult_id
        ):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user_id = user.pk
        self.consult_id = consult_id
        self.joined_groups = (consult_group(consult_id), session_group(user.pk))
        for group in self.joined_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.joined_groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        # No client message is defined yet, so anything sent is a bad message.
        await self.close(code=CLOSE_BAD_MESSAGE)

    async def live_event(self, message: dict[str, Any]) -> None:
        # Access can end while the room is open (a decline, a cancelled consult): check first.
        if not await database_sync_to_async(consult_room_may_stay)(
            user_id=self.user_id, consult_id=self.consult_id
        ):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.send_json(message["payload"])

    async def live_session_ended(self, message: dict[str, Any]) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED)
