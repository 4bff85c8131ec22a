"""What a clinic doctor sees in headless Chromium, against a real daphne server and Redis."""

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, connections
from playwright.sync_api import Page, expect, sync_playwright

from server.notifications.models import NotificationKind
from server.notifications.services import notification_send
from tests.conftest import World
from tests.factories import PASSWORD
from tests.web.conftest import PHASE_REPORTS

# Committed data is what the daphne process sees, so these tests commit for real.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 30
HEALTH_POLL_SECONDS = 0.1
EXPECT_TIMEOUT_MS = 10_000
HOME_URL = re.compile(r"^http://127\.0\.0\.1:\d+/$")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _test_database_url() -> str:
    """The pytest database, which exists only while the tests run, as a DATABASE_URL."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{quote(db['NAME'], safe='')}"


def _is_healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A daphne process serving the ASGI app on the test database; yields its base URL."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    # server.test_settings put REDIS_URL and CHANNEL_LAYER_PREFIX into this environment, so
    # the server shares this process's channel layer; only the database name differs.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.test_settings",
        "DATABASE_URL": _test_database_url(),
    }
    daphne = Path(sys.executable).parent / "daphne"
    command = [str(daphne), "-b", "127.0.0.1", "-p", str(port), "server.asgi:application"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while not _is_healthy(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"daphne did not become healthy:\n{log_path.read_text()}")
                time.sleep(HEALTH_POLL_SECONDS)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def page(server: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A Chromium tab set to Chinese, as the clinics' browsers are; screenshots a failure."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", base_url=server)
        tab = context.new_page()
        tab.set_default_timeout(EXPECT_TIMEOUT_MS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        try:
            yield tab
        finally:
            reports = request.node.stash.get(PHASE_REPORTS, {})
            if any(report.failed for report in reports.values()):
                artifacts = Path(settings.BASE_DIR) / "test-artifacts"
                artifacts.mkdir(exist_ok=True)
                tab.screenshot(path=artifacts / f"{request.node.name}.png", full_page=True)
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
