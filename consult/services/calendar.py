"""The working-day calendar: loading the State Council's holiday list for a year."""

import json
import logging
from datetime import date, timedelta
from pathlib import Path

from django.db import transaction

from consult.errors import ConsultError
from consult.models import CalendarDay

logger = logging.getLogger(__name__)

HOLIDAYS_CN = Path(__file__).resolve().parent.parent / "data" / "holidays_cn.json"


def _national_days(year: int, path: Path) -> dict[date, tuple[bool, str]]:
    """The year's listed days from the JSON file: date -> (is working day, name)."""
    listed = json.loads(path.read_text(encoding="utf-8")).get(str(year))
    if listed is None:
        raise ConsultError(f"{path.name} has no holiday list for {year}.", field="year")
    days: dict[date, tuple[bool, str]] = {}
    for holiday in listed["holidays"]:
        day, last = date.fromisoformat(holiday["from"]), date.fromisoformat(holiday["to"])
        while day <= last:
            days[day] = (False, holiday["name"])
            day += timedelta(days=1)
    for make_up in listed["make_up_days"]:
        days[date.fromisoformat(make_up["date"])] = (True, make_up["name"])
    if any(day.year != year for day in days):
        raise ConsultError(f"The {year} list has days of another year.", field="year")
    return days


@transaction.atomic
def calendar_days_load(*, year: int, path: Path = HOLIDAYS_CN) -> int:
    """Replace the national calendar's days of `year` with the file's list; return the count.

    Consortium overrides are left alone. Running it twice gives the same rows.
    """
    days = _national_days(year, path)
    CalendarDay.objects.filter(consortium__isnull=True, date__year=year).delete()
    CalendarDay.objects.bulk_create(
        CalendarDay(consortium=None, date=day, is_working_day=working, name=name)
        for day, (working, name) in sorted(days.items())
    )
    logger.info("Loaded %d national calendar days of %d", len(days), year)
    return len(days)
