"""Create an API token for a user and print it once."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from server.accounts.models import User
from server.accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for USERNAME; the token is printed once and stored only hashed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="What the token is for.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        _, raw = api_token_create(user=user, name=options["name"])
        self.stdout.write(raw)
