"""The consult room socket: relays one consult's live events to the people allowed to view it."""

import json
from typing import Any

from channels.db import database_sync_to_async
from pydantic import ValidationError

from consult.errors import ReviewRefused
from consult.events import (
    ReviewAnnotations,
    ReviewHandover,
    ReviewInvalid,
    ReviewJoin,
    ReviewJoined,
    ReviewLeave,
    ReviewMessage,
    ReviewPing,
    ReviewPointer,
    ReviewRefusal,
    ReviewView,
    consult_group,
    review_group,
    review_invalid,
    review_message,
    review_relayed,
)
from consult.selectors import consult_room_may_join, consult_room_may_stay, review_may_stay
from consult.services.review import (
    review_handover,
    review_join,
    review_leave,
    review_presence_touch,
)
from server.access import NotFound
from server.audit.context import client_address
from server.lib.events import session_group
from server.lib.sockets import LiveSocketConsumer

# Channel-layer message type of the lead's messages relayed to a review (method review_relay).
REVIEW_RELAY = "review.relay"

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class ConsultConsumer(LiveSocketConsumer):
    """The consult's live events, and the shared review of one of its studies at a time."""

    joined_groups: tuple[str, ...] = ()
    # The review this socket is in, and who leads it as last heard from its group: the lead's
    # messages are checked against it, so relaying them costs no database query.
    review_session_id: int | None = None
    review_lead_user_id: int | None = None

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
        await self._review_leave()
        for group in self.joined_groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        try:
            message = review_message.validate_json(text_data or bytes_data or b"")
        except ValidationError as error:
            # Answered, not closed: a client that reconnects and sends the same state again
            # would otherwise drop and reopen its socket forever (on a rural link, a storm).
            await self._send_event(review_invalid(error))
            return
        await self._review_receive(message)

    async def live_event(self, message: dict[str, Any]) -> None:
        # Access can end while the room is open (a decline, a cancelled consult): check first.
        may_stay = review_may_stay if self.review_session_id else consult_room_may_stay
        if not await database_sync_to_async(may_stay)(
            user_id=self.user_id, consult_id=self.consult_id
        ):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        payload = message["payload"]
        if payload["type"] == "review.state":
            self.review_lead_user_id = payload["lead_user_id"]
        await self.send_json(payload)

    # --- Shared review ------------------------------------------------------------------------

    async def _review_receive(self, message: ReviewMessage) -> None:
        if isinstance(message, ReviewJoin):
            await self._review_join(message.study)
        elif isinstance(message, ReviewLeave):
            await self._review_leave()
        elif isinstance(message, ReviewPing):
            await database_sync_to_async(review_presence_touch)(channel_name=self.channel_name)
        elif isinstance(message, ReviewHandover):
            try:
                await database_sync_to_async(review_handover)(
                    channel_name=self.channel_name, to_user_id=message.to_user_id
                )
            except ReviewRefused as refused:
                await self._send_event(ReviewRefusal(reason=refused.message))
        elif self.review_session_id is None:
            await self._send_event(
                review_invalid(None, reason=f"{message.type} before review.join: dropped")
            )
        elif self.review_lead_user_id == self.user_id:
            await self._review_relay(message)
        # Anything else is a follower's view or a lead's message sent just before a handover:
        # dropped, so followers only ever see the current lead.

    async def _review_join(self, study: str) -> None:
        await self._review_leave()
        try:
            entry = await database_sync_to_async(review_join)(
                consult_id=self.consult_id,
                study_instance_uid=study,
                user_id=self.user_id,
                channel_name=self.channel_name,
            )
        except NotFound:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.review_session_id = entry.session_id
        self.review_lead_user_id = entry.state.lead_user_id
        await self.channel_layer.group_add(review_group(entry.session_id), self.channel_name)
        await self._send_event(
            ReviewJoined(user_id=self.user_id, state=entry.state, annotations=entry.annotations)
        )

    async def _review_leave(self) -> None:
        if self.review_session_id is None:
            return
        await self.channel_layer.group_discard(
            review_group(self.review_session_id), self.channel_name
        )
        self.review_session_id = None
        self.review_lead_user_id = None
        await database_sync_to_async(review_leave)(channel_name=self.channel_name)

    async def _review_relay(self, message: ReviewView | ReviewPointer | ReviewAnnotations) -> None:
        assert self.review_session_id is not None
        relayed = review_relayed(message, from_user_id=self.user_id)
        await self.channel_layer.group_send(
            review_group(self.review_session_id),
            {
                "type": REVIEW_RELAY,
                "sender": self.channel_name,
                "payload": relayed.model_dump(mode="json", by_alias=True),
            },
        )

    async def review_relay(self, message: dict[str, Any]) -> None:
        if message["sender"] != self.channel_name:
            await self.send(text_data=json.dumps(message["payload"], separators=(",", ":")))

    async def _send_event(self, event: ReviewJoined | ReviewRefusal | ReviewInvalid) -> None:
        await self.send(text_data=event.model_dump_json(by_alias=True))

    async def live_session_ended(self, message: dict[str, Any]) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED)
