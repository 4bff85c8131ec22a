"""The consult page's "What you can do" card: shown with something in it, or not at all."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from consult.models import ConsultRequest, Status
from server.accounts.models import User
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name below

pytestmark = pytest.mark.usefixtures("built_assets")


def _page(client: Client, user: User, consult: ConsultRequest) -> str:
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(reverse("consults:detail", kwargs={"consult_id": consult.pk}))
    assert response.status_code == 200
    return response.content.decode()


def test_no_empty_actions_card_when_the_actions_live_elsewhere(
    client: Client, world: World
) -> None:
    # Once signed, the specialist may amend the opinion and review images: neither in that card.
    consult = make_consult(world, Status.OPINION_SIGNED)

    html = _page(client, world.specialist, consult)

    assert "actions-card" not in html
    assert "What you can do" not in html
    assert f"/consults/{consult.pk}/opinion/edit/" in html


def test_the_actions_card_is_there_when_it_has_something(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)

    html = _page(client, world.specialist, consult)

    assert "What you can do" in html
    assert f"/consults/{consult.pk}/act/accept/" in html
