"""What a clinic doctor sees in headless Chromium, against a real daphne server and Redis."""

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from playwright.sync_api import Page, expect, sync_playwright

from server.notifications.models import NotificationKind
from server.notifications.services import notification_send
from tests.conftest import World
from tests.factories import PASSWORD
from tests.lib.browser import CHROMIUM, CHROMIUM_ARGS, screenshots_if_failed
from tests.lib.daphne import daphne_server

# Committed data is what the daphne process sees, so these tests commit for real.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

EXPECT_TIMEOUT_MS = 10_000
HOME_URL = re.compile(r"^http://127\.0\.0\.1:\d+/$")


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A daphne process serving the ASGI app on the test database; yields its base URL."""
    # server.test_settings put REDIS_URL and CHANNEL_LAYER_PREFIX into this environment, so
    # the server shares this process's channel layer; only the database name differs.
    with daphne_server(tmp_path_factory.mktemp("daphne") / "daphne.log") as url:
        yield url


@pytest.fixture
def page(server: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A Chromium tab set to Chinese, as the clinics' browsers are; screenshots a failure."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", base_url=server)
        tab = context.new_page()
        tab.set_default_timeout(EXPECT_TIMEOUT_MS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        with screenshots_if_failed(request, lambda: [tab]):
            yield tab
        browser.close()


def _sign_in(page: Page, username: str) -> None:
    page.goto("/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(HOME_URL)


def test_clinic_doctor_sees_chinese_home_and_switches_to_english(world: World, page: Page) -> None:
    _sign_in(page, "clinic")

    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", name="东乡卫生院的患者")).to_be_visible()
    expect(page.get_by_role("link", name=world.patient.name)).to_be_visible()
    expect(page.get_by_role("link", name="登记患者")).to_be_visible()

    page.get_by_role("button", name="English").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Patients of 东乡卫生院")).to_be_visible()
    expect(page.get_by_role("link", name="Register patient")).to_be_visible()


def _send_notification_from_another_thread(user_id: int) -> None:
    # Playwright's sync API keeps an event loop running on this thread, and Django refuses
    # ORM calls from a thread with a running loop, so the service runs on a plain thread.
    def send() -> None:
        try:
            notification_send(recipient_ids=[user_id], kind=NotificationKind.DUPLICATE_SUSPECTED)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(send).result(timeout=30)


def test_notification_badge_updates_live_without_reload(world: World, page: Page) -> None:
    _sign_in(page, "clinic")
    badge = page.locator("#notification-badge")
    expect(badge).to_be_hidden()
    expect(page.locator("html")).to_have_attribute("data-live", "connected")
    page.evaluate("window.yunzhenNotReloaded = true")

    _send_notification_from_another_thread(world.clinic_doctor.pk)

    expect(badge).to_be_visible()
    expect(badge).to_have_text("1")
    expect(badge).to_have_attribute("data-unread", "1")
    assert page.evaluate("window.yunzhenNotReloaded") is True
