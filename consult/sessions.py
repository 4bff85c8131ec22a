"""When a scheduled live session may be started: its join window, from the settings."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings


class WindowState(StrEnum):
    EARLY = "early"
    OPEN = "open"
    PAST = "past"


@dataclass(frozen=True)
class JoinWindow:
    """From `opens_at` (a little before the scheduled start) to `closes_at` (the slot's end)."""

    starts_at: datetime
    opens_at: datetime
    closes_at: datetime

    @property
    def minutes_before(self) -> int:
        return int((self.starts_at - self.opens_at) / timedelta(minutes=1))

    def state(self, now: datetime) -> WindowState:
        if now < self.opens_at:
            return WindowState.EARLY
        if now > self.closes_at:
            return WindowState.PAST
        return WindowState.OPEN


def session_join_window(starts_at: datetime) -> JoinWindow:
    """The window in which the session scheduled at `starts_at` may be started."""
    return JoinWindow(
        starts_at=starts_at,
        opens_at=starts_at - timedelta(minutes=settings.CONSULT_JOIN_WINDOW_MINUTES),
        closes_at=starts_at + timedelta(minutes=settings.CONSULT_SESSION_MINUTES),
    )
