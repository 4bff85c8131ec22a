"""Live event messages of notifications, mirrored in frontend/src/lib/events.ts."""

from typing import Literal

from server.lib.events import Event


class NotificationCreated(Event):
    type: Literal["notifications.created"] = "notifications.created"
    notification_id: int
    kind: str
    text: str
    link: str
    unread_count: int


class UnreadCountChanged(Event):
    type: Literal["notifications.unread_count"] = "notifications.unread_count"
    unread_count: int
