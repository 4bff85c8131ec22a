"""The working-day calendar: China's holidays and 调休 make-up days move routine deadlines."""

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from consult.clocks import SHANGHAI, WORKING_DAYS, WorkingCalendar, add_limit
from consult.errors import ConsultError
from consult.models import (
    CalendarDay,
    ConsultRequest,
    DeadlineKind,
    Escalation,
    TargetKind,
    Urgency,
)
from consult.selectors import consult_clocks
from consult.services import calendar_days_load, consult_deadlines_sweep, consult_submit
from tests.conftest import World
from tests.consult.conftest import make_consult


def _routine_submitted_at(world: World, at: datetime) -> ConsultRequest:
    # Nobody is on duty, so the consult waits at the consult centre and its accept clock runs.
    consult = make_consult(
        world,
        urgency=Urgency.ROUTINE,
        target_kind=TargetKind.CONSULT_CENTRE,
        target_practitioner=None,
    )
    with time_machine.travel(at, tick=False):
        consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    return consult


def _accept_due(consult: ConsultRequest) -> datetime:
    clock = consult_clocks(consult=consult).accept
    assert clock is not None
    return clock.due_at.astimezone(SHANGHAI)


def test_add_limit_skips_listed_holidays_and_counts_make_up_days() -> None:
    calendar = WorkingCalendar(exceptions={date(2026, 4, 6): False, date(2026, 2, 14): True})
    friday = datetime(2026, 4, 3, 15, 0, tzinfo=SHANGHAI)
    before_spring_festival = datetime(2026, 2, 13, 15, 0, tzinfo=SHANGHAI)

    assert add_limit(friday, 1, WORKING_DAYS, calendar) == datetime(
        2026, 4, 7, 15, 0, tzinfo=SHANGHAI
    )
    assert add_limit(before_spring_festival, 1, WORKING_DAYS, calendar) == datetime(
        2026, 2, 14, 15, 0, tzinfo=SHANGHAI
    )


def test_calendar_load_cn_loads_2026_holidays_and_make_up_days(db: None) -> None:
    call_command("calendar_load_cn", "2026")

    national = CalendarDay.objects.filter(consortium__isnull=True)
    assert national.filter(is_working_day=False).count() == 33
    assert set(national.filter(is_working_day=True).values_list("date", flat=True)) == {
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    }
    assert national.get(date=date(2026, 2, 17)).name == "春节"


def test_calendar_days_load_twice_gives_the_same_rows(db: None) -> None:
    calendar_days_load(year=2026)
    CalendarDay.objects.filter(date=date(2026, 10, 8)).delete()  # an admin's slip

    assert calendar_days_load(year=2026) == 39
    assert CalendarDay.objects.count() == 39


def test_calendar_days_load_refuses_a_year_not_in_the_file(db: None, tmp_path: Path) -> None:
    listing = tmp_path / "holidays.json"
    listing.write_text(json.dumps({"2026": {"holidays": [], "make_up_days": []}}))

    with pytest.raises(ConsultError, match="no holiday list for 2031"):
        calendar_days_load(year=2031, path=listing)


def test_routine_consult_submitted_friday_before_holiday_week_is_due_after_it(
    world: World,
) -> None:
    calendar_days_load(year=2026)
    # Friday 3 April; 清明 is Saturday 4 to Monday 6 April.
    consult = _routine_submitted_at(world, datetime(2026, 4, 3, 15, 0, tzinfo=SHANGHAI))

    assert _accept_due(consult) == datetime(2026, 4, 7, 15, 0, tzinfo=SHANGHAI)


def test_routine_consult_before_national_day_week_is_due_the_day_after_it(world: World) -> None:
    calendar_days_load(year=2026)
    # Wednesday 30 September, the last working day before 国庆 (1 to 7 October).
    consult = _routine_submitted_at(world, datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI))

    assert _accept_due(consult) == datetime(2026, 10, 8, 10, 0, tzinfo=SHANGHAI)


def test_make_up_saturday_counts_as_a_working_day(world: World) -> None:
    calendar_days_load(year=2026)
    # Friday 13 February; Saturday 14 February is worked before 春节 (15 to 23 February).
    consult = _routine_submitted_at(world, datetime(2026, 2, 13, 15, 0, tzinfo=SHANGHAI))

    assert _accept_due(consult) == datetime(2026, 2, 14, 15, 0, tzinfo=SHANGHAI)


def test_consult_submitted_on_make_up_saturday_is_due_after_spring_festival(
    world: World,
) -> None:
    calendar_days_load(year=2026)
    consult = _routine_submitted_at(world, datetime(2026, 2, 14, 9, 0, tzinfo=SHANGHAI))

    assert _accept_due(consult) == datetime(2026, 2, 24, 9, 0, tzinfo=SHANGHAI)


def test_sweep_does_not_escalate_acceptance_during_the_holiday(world: World) -> None:
    calendar_days_load(year=2026)
    submitted = datetime(2026, 4, 3, 15, 0, tzinfo=SHANGHAI)
    consult = _routine_submitted_at(world, submitted)
    accept = Escalation.objects.filter(consult=consult, deadline=DeadlineKind.ACCEPT)

    # The opinion deadline (48 hours, not working days) is missed on Sunday already.
    consult_deadlines_sweep(now=datetime(2026, 4, 6, 16, 0, tzinfo=SHANGHAI))
    assert not accept.exists()
    consult_deadlines_sweep(now=datetime(2026, 4, 7, 15, 1, tzinfo=SHANGHAI))
    assert accept.get().due_at == submitted + timedelta(days=4)


def test_consortium_override_beats_the_national_calendar(world: World) -> None:
    calendar_days_load(year=2026)
    # This consortium works on the national holiday Monday 6 April.
    CalendarDay.objects.create(
        consortium_id=world.patient.consortium_id,
        date=date(2026, 4, 6),
        is_working_day=True,
        name="院内工作日",
    )
    consult = _routine_submitted_at(world, datetime(2026, 4, 3, 15, 0, tzinfo=SHANGHAI))

    assert _accept_due(consult) == datetime(2026, 4, 6, 15, 0, tzinfo=SHANGHAI)


def test_other_consortium_override_does_not_apply(world: World) -> None:
    calendar_days_load(year=2026)
    CalendarDay.objects.create(
        consortium_id=world.foreign_township.consortium_id,
        date=date(2026, 4, 6),
        is_working_day=True,
    )
    consult = _routine_submitted_at(world, datetime(2026, 4, 3, 15, 0, tzinfo=SHANGHAI))

    assert _accept_due(consult) == datetime(2026, 4, 7, 15, 0, tzinfo=SHANGHAI)
