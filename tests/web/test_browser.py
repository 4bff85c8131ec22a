"""What a clinic doctor sees in headless Chromium, against a real daphne server and Redis."""

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from playwright.sync_api import Page, WebSocketRoute, expect, sync_playwright

from server.directory.models import Patient
from server.directory.services import national_id_hash
from server.notifications.models import NotificationKind
from server.notifications.services import notification_send
from tests.conftest import World
from tests.factories import PASSWORD
from tests.lib.browser import CHROMIUM, CHROMIUM_ARGS, screenshots_if_failed, until, watch_csp
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
        refused = watch_csp(context)
        tab = context.new_page()
        tab.set_default_timeout(EXPECT_TIMEOUT_MS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        with screenshots_if_failed(request, lambda: [tab]):
            yield tab
        browser.close()
    assert refused == [], refused


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


class EventsLink:
    """The tab's /ws/events/ socket routed through Playwright: counts the sockets opened and
    the pings and pongs, and can turn into a link that looks open but carries nothing."""

    def __init__(self, page: Page) -> None:
        self.opened = 0
        self.pings = 0
        self.pongs = 0
        self.dead = False
        page.route_web_socket(re.compile(r"/ws/events/$"), self._route)

    def _route(self, socket: WebSocketRoute) -> None:
        self.opened += 1
        server = socket.connect_to_server()

        def up(message: str | bytes) -> None:
            if message == '{"type":"live.ping"}':
                self.pings += 1
            if not self.dead:
                server.send(message)

        def down(message: str | bytes) -> None:
            if message == '{"type":"live.pong"}':
                self.pongs += 1
            if not self.dead:
                socket.send(message)

        socket.on_message(up)
        server.on_message(down)


def test_a_quiet_live_socket_is_pinged_and_a_dead_one_is_reopened(world: World, page: Page) -> None:
    page.clock.install()
    link = EventsLink(page)
    _sign_in(page, "clinic")
    html = page.locator("html")
    expect(html).to_have_attribute("data-live", "connected")
    assert link.opened == 1

    # Quiet for 25 s: the tab asks, the server answers, and the socket stays.
    page.clock.run_for(25_000)
    assert until(page, lambda: link.pongs == 1)
    assert (link.pings, link.opened) == (1, 1)

    # The link goes dead without a close. The tab pings again after 20 s of silence, and only
    # after 45 s gives the socket up and opens a new one, without waiting for a close event
    # that may never come.
    link.dead = True
    page.clock.run_for(15_000)
    page.evaluate("() => 0")
    assert link.opened == 1
    page.clock.run_for(40_000)
    assert until(page, lambda: link.opened == 2)
    assert link.pings == 2

    # The new socket carries messages: the next quiet spell is answered again.
    link.dead = False
    expect(html).to_have_attribute("data-live", "connected")
    page.clock.run_for(25_000)
    assert until(page, lambda: link.pongs == 2)
    assert link.opened == 2


NATIONAL_ID = "51032219580314002X"


@pytest.fixture
def identified_patient(world: World) -> Patient:
    """The world's patient with her national ID and health card on file (set before the tab
    opens: Playwright's loop on this thread forbids ORM calls afterwards)."""
    Patient.objects.filter(pk=world.patient.pk).update(
        national_id_hash=national_id_hash(NATIONAL_ID), health_card_number="HC-DX-0001"
    )
    return Patient.objects.get(pk=world.patient.pk)


def test_registering_a_registered_national_id_offers_the_record_and_a_consult(
    identified_patient: Patient, page: Page
) -> None:
    _sign_in(page, "clinic")
    page.goto("/patients/new/")
    page.locator("#id_name").fill(identified_patient.name)
    page.locator("#id_sex").select_option(identified_patient.sex)
    page.locator("#id_birth_date").fill(identified_patient.birth_date.isoformat())
    page.locator("#id_national_id").fill(NATIONAL_ID)
    page.get_by_role("button", name="登记患者").click()

    expect(page.get_by_role("alert")).to_contain_text("医共体内已有使用此身份证号登记的患者")
    page.get_by_role("link", name="打开已有档案").click()
    expect(page).to_have_url(re.compile(rf"/patients/{identified_patient.pk}/$"))

    page.get_by_role("link", name="新建会诊").click()
    expect(page).to_have_url(re.compile(rf"/consults/new/\?patient={identified_patient.pk}$"))
    chosen = page.locator("#id_patient option:checked")
    expect(chosen).to_have_text(re.compile(rf"^{identified_patient.name} · HC-DX-0001 · "))
