"""Calendar days on pages: one form, YYYY-MM-DD, whatever the source (date, datetime, DICOM DA)."""

from datetime import UTC, date, datetime

import pytest
from django.template import Context, Template

from server.lib.dates import day_text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (date(2004, 1, 19), "2004-01-19"),
        ("20040119", "2004-01-19"),
        (" 19700315 ", "1970-03-15"),
        # 16:30 UTC on the 18th is already the 19th in Asia/Shanghai, the active time zone.
        (datetime(2004, 1, 18, 16, 30, tzinfo=UTC), "2004-01-19"),
        (None, ""),
        ("", ""),
        # Not a day: shown as the file has it rather than hidden or made up.
        ("20040231", "20040231"),
        ("unknown", "unknown"),
    ],
)
def test_day_text_shows_every_source_as_yyyy_mm_dd(
    value: date | datetime | str | None, shown: str
) -> None:
    assert day_text(value) == shown


def test_the_day_filter_is_the_same_helper() -> None:
    template = Template("{% load dates %}{{ when|day|default:'—' }} {{ missing|day|default:'—' }}")

    assert template.render(Context({"when": "20040119", "missing": None})) == "2004-01-19 —"
