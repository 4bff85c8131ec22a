"""The assign page in headless Chromium: every column readable inside the card."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from consult.models import ConsultRequest
from server.directory.models import InstitutionLevel, Title
from tests.conftest import World
from tests.consult import test_browser
from tests.consult.conftest import add_specialist
from tests.consult.test_assign_pages import _waiting
from tests.consult.test_browser import _tab
from tests.factories import InstitutionFactory
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

# The daphne server and the Chromium of the consult path's browser tests.
server = test_browser.server
browser = test_browser.browser


@pytest.fixture
def waiting(world: World) -> ConsultRequest:
    """A consult at the consult centre, with candidates that do not fit and say why, from an
    institution with a name as long as real ones."""
    hospital = InstitutionFactory.create(
        consortium=world.county.consortium,
        name="某某市第一人民医院医学影像科远程会诊中心",
        level=InstitutionLevel.COUNTY,
    )
    for n in range(3):
        add_specialist(
            world,
            f"newcomer{n}",
            title=Title.RESIDENT,
            since=timezone.localdate() - timedelta(days=400),
            on_duty=False,
            institution=hospital,
            display_name=f"欧阳晓明{n}",
        )
    return _waiting(world)


def test_the_reasons_wrap_inside_the_card_on_a_narrow_screen(
    waiting: ConsultRequest, server: str, browser: Browser
) -> None:
    coordinator = _tab(browser, server, "coordinator")
    coordinator.set_viewport_size({"width": 1024, "height": 900})

    coordinator.goto(f"/consults/{waiting.pk}/assign/")

    reason = coordinator.locator("[data-testid=candidates] td.why-not", has_text="职称").first
    expect(reason).to_be_visible()
    box = coordinator.locator(".table-wrap")
    overflow = box.evaluate("wrap => wrap.scrollWidth - wrap.clientWidth")
    assert overflow <= 1, f"the table is {overflow}px wider than its card"
    cell, card = reason.bounding_box(), box.bounding_box()
    assert cell is not None
    assert card is not None
    assert cell["x"] + cell["width"] <= card["x"] + card["width"] + 1
