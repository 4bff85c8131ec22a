"""Consult deadlines: the consortium's limits, its working calendar, and each consult's clocks."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from consult import clocks
from consult.models import (
    CalendarDay,
    ConsultEvent,
    ConsultRequest,
    DeadlineKind,
    DeadlinePolicy,
    DeadlineUnit,
    Status,
    Urgency,
)

# Defaults when a consortium has no DeadlinePolicy row: (amount, unit) for accept, opinion.
DEFAULT_DEADLINES: dict[str, tuple[tuple[int, str], tuple[int, str]]] = {
    Urgency.CRITICAL: ((10, DeadlineUnit.MINUTES), (2, DeadlineUnit.HOURS)),
    Urgency.URGENT: ((2, DeadlineUnit.HOURS), (24, DeadlineUnit.HOURS)),
    Urgency.ROUTINE: ((1, DeadlineUnit.WORKING_DAYS), (48, DeadlineUnit.HOURS)),
}


def deadline_limits(*, consortium_id: int, urgency: str) -> dict[DeadlineKind, tuple[int, str]]:
    """The consortium's limits for an urgency, or the defaults."""
    policy = DeadlinePolicy.objects.filter(consortium_id=consortium_id, urgency=urgency).first()
    if policy is None:
        accept, opinion = DEFAULT_DEADLINES[urgency]
    else:
        accept = (policy.accept_within, policy.accept_unit)
        opinion = (policy.opinion_within, policy.opinion_unit)
    return {DeadlineKind.ACCEPT: accept, DeadlineKind.OPINION: opinion}


# How far ahead of a clock's start the calendar is read: N working days never span more than
# this many calendar days in practice (the longest break, 春节, is 9 days).
_CALENDAR_SLACK_DAYS = 40


def working_calendar(*, consortium_id: int, start: date, days: int) -> clocks.WorkingCalendar:
    """The consortium's calendar from `start` for `days` days: national rows, overridden by
    the consortium's own."""
    rows = (
        CalendarDay.objects.filter(
            Q(consortium__isnull=True) | Q(consortium_id=consortium_id),
            date__gte=start,
            date__lte=start + timedelta(days=days),
        )
        # National rows first, so the consortium's row for the same date replaces them.
        .order_by(F("consortium_id").asc(nulls_first=True))
        .values_list("date", "is_working_day")
    )
    return clocks.WorkingCalendar(exceptions=dict(rows))


# Both clocks run from submission: the patient waits from then, and a slow acceptance must
# not buy more time for the opinion.
_CLOCK_STOPS = {DeadlineKind.ACCEPT: Status.ACCEPTED, DeadlineKind.OPINION: Status.OPINION_SIGNED}


@dataclass(frozen=True)
class ConsultClocks:
    accept: clocks.Clock | None
    opinion: clocks.Clock | None

    def get(self, kind: DeadlineKind) -> clocks.Clock | None:
        return self.accept if kind == DeadlineKind.ACCEPT else self.opinion


def consult_clocks(
    *,
    consult: ConsultRequest,
    events: list[ConsultEvent] | None = None,
    now: datetime | None = None,
) -> ConsultClocks:
    """Both deadline clocks of a consult, from its event log."""
    if events is None:
        events = list(consult.events.order_by("at", "pk"))
    moves = [clocks.Move(to_status=e.to_status, at=e.at) for e in events]
    limits = deadline_limits(consortium_id=consult.consortium_id, urgency=consult.urgency)
    now = now or timezone.now()
    calendar = clocks.WEEKDAYS
    submitted = next((m.at for m in moves if m.to_status == Status.SUBMITTED), None)
    longest = max(
        (n for n, unit in limits.values() if unit == DeadlineUnit.WORKING_DAYS), default=0
    )
    if submitted is not None and longest:
        calendar = working_calendar(
            consortium_id=consult.consortium_id,
            start=submitted.astimezone(clocks.SHANGHAI).date(),
            days=longest * 7 + _CALENDAR_SLACK_DAYS,
        )
    built = {
        kind: clocks.clock(
            moves,
            start=Status.SUBMITTED,
            stop=stop,
            pause=Status.NEEDS_INFO,
            amount=limits[kind][0],
            unit=limits[kind][1],
            now=now,
            calendar=calendar,
        )
        for kind, stop in _CLOCK_STOPS.items()
    }
    return ConsultClocks(accept=built[DeadlineKind.ACCEPT], opinion=built[DeadlineKind.OPINION])
