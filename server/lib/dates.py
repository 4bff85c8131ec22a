"""Calendar days as every page shows them: study dates, birth dates, whatever their source."""

import re
from datetime import date, datetime

from django.utils import timezone

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
