"""Create (or refresh) the demo consortium and print its logins. Safe to run repeatedly."""

from typing import Any

from django.core.management.base import BaseCommand

from server.directory.demo import DEMO_PASSWORD, demo_seed


class Command(BaseCommand):
    help = "Seed a demo consortium with institutions, practitioners of every role and patients."

    def handle(self, *args: Any, **options: Any) -> None:
        logins = demo_seed()
        heading = f"Demo consortium ready. Logins (password for all: {DEMO_PASSWORD}):"
        self.stdout.write(self.style.SUCCESS(heading))
        for login in logins:
            self.stdout.write(f"  {login.username:<14} {login.role:<26} {login.institution}")
