"""Deadline clocks computed from a consult's event log; pure Python, no Django.

A clock starts at the first move into `start` and stops at the first move into `stop`. Time
spent waiting for the requester's information (the pause status) does not count: it pushes the
due time later, and a clock that is paused right now is never overdue.

"Working days" are counted in Asia/Shanghai on a `WorkingCalendar`: Monday to Friday, except the
days it lists (public holidays are off, 调休 make-up weekends are on). N working days after a
moment is the same wall-clock time on the Nth following working day (Friday 15:00 + 1 working
day = Monday 15:00, or Tuesday 15:00 when Monday is a holiday).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

MINUTES = "minutes"
HOURS = "hours"
WORKING_DAYS = "working_days"


@dataclass(frozen=True)
class WorkingCalendar:
    """Weekdays work and weekends rest, except the days in `exceptions` (day -> works?)."""

    exceptions: Mapping[date, bool] = field(default_factory=dict)

    def is_working_day(self, day: date) -> bool:
        return self.exceptions.get(day, day.weekday() < 5)


WEEKDAYS = WorkingCalendar()


@dataclass(frozen=True)
class Move:
    """One event of the log, as the clocks need it."""

    to_status: str
    at: datetime


@dataclass(frozen=True)
class Clock:
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    paused: bool
    paused_for: timedelta

    def is_overdue(self, now: datetime) -> bool:
        return self.stopped_at is None and not self.paused and now > self.due_at

    @property
    def turnaround(self) -> timedelta | None:
        """Working time from start to stop, pauses left out."""
        if self.stopped_at is None:
            return None
        return self.stopped_at - self.started_at - self.paused_for


def add_limit(
    start: datetime, amount: int, unit: str, calendar: WorkingCalendar = WEEKDAYS
) -> datetime:
    """The moment `amount` `unit`s after `start`."""
    if unit == MINUTES:
        return start + timedelta(minutes=amount)
    if unit == HOURS:
        return start + timedelta(hours=amount)
    if unit == WORKING_DAYS:
        local = start.astimezone(SHANGHAI)
        day = local.date()
        counted = 0
        while counted < amount:
            day += timedelta(days=1)
            if calendar.is_working_day(day):
                counted += 1
        return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)
    raise ValueError(f"Unknown deadline unit {unit!r}")


def clock(
    moves: Sequence[Move],
    *,
    start: str,
    stop: str,
    pause: str,
    amount: int,
    unit: str,
    now: datetime,
    calendar: WorkingCalendar = WEEKDAYS,
) -> Clock | None:
    """The clock for one deadline, or None if it has not started."""
    started_at = next((m.at for m in moves if m.to_status == start), None)
    if started_at is None:
        return None
    stopped_at = next((m.at for m in moves if m.to_status == stop and m.at >= started_at), None)
    end = stopped_at or now
    paused_for = timedelta()
    paused_since: datetime | None = None
    for move in moves:
        if move.at < started_at or move.at > end:
            continue
        if move.to_status == pause and paused_since is None:
            paused_since = move.at
        elif move.to_status != pause and paused_since is not None:
            paused_for += move.at - paused_since
            paused_since = None
    paused = paused_since is not None and stopped_at is None
    if paused_since is not None:
        paused_for += end - paused_since
    return Clock(
        started_at=started_at,
        due_at=add_limit(started_at, amount, unit, calendar) + paused_for,
        stopped_at=stopped_at,
        paused=paused,
        paused_for=paused_for,
    )
