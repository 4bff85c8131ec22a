"""Load one year of China's public holidays and 调休 make-up days into the national calendar."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from consult.errors import ConsultError
from consult.services import calendar_days_load


class Command(BaseCommand):
    help = (
        "Load a year's public holidays and make-up working days from consult/data/"
        "holidays_cn.json into the national working-day calendar (replacing that year's rows)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("year", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = calendar_days_load(year=options["year"])
        except ConsultError as error:
            raise CommandError(error.message) from error
        self.stdout.write(self.style.SUCCESS(f"Loaded {count} calendar days of {options['year']}."))
