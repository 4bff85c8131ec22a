"""`{{ study.study_date|day }}`: a calendar day as YYYY-MM-DD (see server.lib.dates)."""

from datetime import date, datetime

from django import template

from server.lib.dates import day_text

register = template.Library()


@register.filter
def day(value: date | datetime | str | None) -> str:
    return day_text(value)
