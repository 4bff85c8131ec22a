"""The worklist and patient tables on a phone 390 by 844 px, in headless Chromium."""

import os
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect, sync_playwright

from consult.models import ConsultRequest, Status
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.lib.browser import CHROMIUM, CHROMIUM_ARGS, screenshots_if_failed, watch_csp
from tests.web import test_browser
from tests.web.test_browser import EXPECT_TIMEOUT_MS, _sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

PHONE: ViewportSize = {"width": 390, "height": 844}

server = test_browser.server  # the daphne server of the web browser tests


@pytest.fixture
def phone(server: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A Chinese tab the size of a common phone, touch and all."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            locale="zh-CN",
            base_url=server,
            viewport=PHONE,
            device_scale_factor=3,
            is_mobile=True,
            has_touch=True,
        )
        refused = watch_csp(context)
        tab = context.new_page()
        tab.set_default_timeout(EXPECT_TIMEOUT_MS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        with screenshots_if_failed(request, lambda: [tab]):
            yield tab
        browser.close()
    assert refused == [], refused


@pytest.fixture
def consult(world: World) -> ConsultRequest:
    return make_consult(world, status=Status.SUBMITTED)


def _assert_on_screen(page: Page, cell: Locator) -> None:
    """Visible and wholly inside the phone's width, with nothing to scroll sideways to."""
    expect(cell).to_be_visible()
    box = cell.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    cell.scroll_into_view_if_needed()
    expect(cell).to_be_in_viewport(ratio=1)


def test_worklist_status_is_on_screen_on_a_phone(
    world: World, consult: ConsultRequest, phone: Page
) -> None:
    _sign_in(phone, "clinic")
    phone.goto("/consults/")
    # The list is fetched again once the live socket is up; measure the list that stays.
    expect(phone.locator("#worklist")).to_have_attribute("data-refreshed", re.compile(r"^[1-9]"))
    row = phone.locator(f"#worklist tr[data-consult-id='{consult.pk}']")
    status = row.locator("td", has=phone.locator(".status"))
    expect(status).to_contain_text("已提交")
    expect(status).to_have_attribute("data-label", "状态")  # the header row is not shown
    _assert_on_screen(phone, status)
    _assert_on_screen(phone, row.get_by_role("link", name=world.patient.name))
    if os.environ.get("YUNZHEN_PHONE_SHOTS"):
        phone.screenshot(path=os.environ["YUNZHEN_PHONE_SHOTS"] + "/worklist.png", full_page=True)


def test_patient_table_is_readable_on_a_phone(world: World, phone: Page) -> None:
    _sign_in(phone, "clinic")
    phone.goto("/patients/")
    row = phone.locator(".patient-table tbody tr").first
    _assert_on_screen(phone, row.get_by_role("link", name=world.patient.name))
    _assert_on_screen(phone, row.locator("td", has_text="东乡卫生院"))
    _assert_on_screen(phone, row.locator("td", has_text="1958-03-14"))
    if os.environ.get("YUNZHEN_PHONE_SHOTS"):
        phone.screenshot(path=os.environ["YUNZHEN_PHONE_SHOTS"] + "/patients.png", full_page=True)
