"""Cards an app adds to a role's home page, so `server.web` shows app data without importing
an app: each app registers its providers when it is ready, and the home view asks them."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from server.access import Actor
from server.directory.models import Role


@dataclass(frozen=True)
class HomeCard:
    """One card: the template that draws it and the context it is drawn with (as `card`)."""

    template: str
    context: Mapping[str, Any] = field(default_factory=dict)


HomeCardProvider = Callable[[HttpRequest, Actor], list[HomeCard]]

_providers: dict[Role, list[HomeCardProvider]] = {}


def home_card_provider_register(*, role: Role, provider: HomeCardProvider) -> None:
    """Show the provider's cards on the home page of `role`; registering twice adds it once."""
    registered = _providers.setdefault(role, [])
    if provider not in registered:
        registered.append(provider)


def home_cards(*, request: HttpRequest, actor: Actor, role: Role) -> list[HomeCard]:
    """The cards of every provider registered for the role, in registration order."""
    return [card for provider in _providers.get(role, []) for card in provider(request, actor)]
