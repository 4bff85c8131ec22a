"""Calendar days as every page shows them (study dates, birth dates, whatever their source),
and the ranges a date typed by a person may fall in."""

import re
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# DICOM DA: YYYYMMDD (the DICOM standard's date), as the archive's headers carry it.
_DA = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def day_text(value: date | datetime | str | None) -> str:
    """The day as YYYY-MM-DD, the one date form of Yunzhen's pages in both languages; "" when
    unknown. Takes a date, an aware datetime (its day in the active time zone) or a DICOM DA
    string; a string that is no date is returned as given rather than hidden."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        moment = timezone.localtime(value) if timezone.is_aware(value) else value
        return moment.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = value.strip()
    found = _DA.match(text)
    if found is None:
        return text
    try:
        return date(*(int(part) for part in found.groups())).isoformat()
    except ValueError:
        return text


# No one alive was born earlier. Far-off years are no typing slip worth storing: 9999-12-31
# passes for a date but is none, and a time in year 329 comes back in local mean time (+08:05:43).
EARLIEST_BIRTH_DATE = date(1880, 1, 1)
EARLIEST_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_MOMENT_AHEAD = timedelta(days=5 * 366)
MOMENT_RANGE_MESSAGE = _("Choose a time between the year 2000 and five years from now.")


def birth_date_possible(born: date) -> bool:
    """Whether a living patient may have been born on `born` (not before 1880, not after today)."""
    return EARLIEST_BIRTH_DATE <= born <= timezone.localdate()


def moment_plausible(moment: datetime) -> bool:
    """Whether a time a person chose (a wished-for or scheduled session) lies between 2000 and
    five years from now."""
    return EARLIEST_MOMENT <= moment <= timezone.now() + LATEST_MOMENT_AHEAD
