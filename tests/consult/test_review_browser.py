"""Two doctors review a consult's CT together in two headless Chromium sessions: real daphne,
Redis channel layer, the archive's DICOMweb. The lead scrolls and changes the window; the
follower's viewer reaches the same image and window; the lead's measurement is saved with the
consult, drawn into a key image, and that key image is in the signed opinion's PDF."""

import io
import itertools
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from django.db import connections
from PIL import Image
from playwright.sync_api import Browser, Page, WebSocketRoute, expect, sync_playwright

from consult.models import ConsultRequest, ConsultStudy, OpinionKeyImage, ReviewAnnotation, Status
from imaging.models import IngestSource, Series
from imaging.services import IngestStatus, instance_ingest, series_previews_render
from server.directory.services import access_grant_open
from tests.conftest import World
from tests.consult.conftest import make_consult, practitioner_of
from tests.factories import PASSWORD
from tests.imaging.conftest import for_patient
from tests.lib.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    csp_violations,
    screenshots_if_failed,
    until,
    watch_csp,
)
from tests.lib.daphne import daphne_server
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name

# Committed data is what the daphne process sees, so these tests commit for real.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

logger = logging.getLogger(__name__)

CARD = "HC-0066"
STUDY_UID = "1.2.826.0.1.3680043.8.498.8801"
SERIES_UID = "1.2.826.0.1.3680043.8.498.8802"
IMAGES = 5
EXPECT_TIMEOUT_MS = 20_000
# The issue asks for 200 ms on loopback; the assertion leaves room for a loaded test machine,
# and the measured figure is logged.
FOLLOW_WITHIN_MS = 2_000
T = TypeVar("T")

# The follower polls its own viewer and notes when it first shows the expected state.
WATCH_FOLLOWER = """(expected) => {
  window.reviewReachedAt = null;
  const timer = setInterval(() => {
    const s = window.yunzhenViewer.viewState();
    if (s.imageIndex === expected.imageIndex && s.windowWidth === expected.windowWidth
        && s.windowCenter === expected.windowCenter) {
      window.reviewReachedAt = Date.now();
      clearInterval(timer);
    }
  }, 2);
}"""
# The lead notes when its next key press happened (both tabs share the machine's clock).
WATCH_KEY = """() => {
  window.reviewPressedAt = null;
  document.addEventListener("keydown", () => { window.reviewPressedAt = Date.now(); },
                            { once: true, capture: true });
}"""


@pytest.fixture(scope="module")
def archive_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("archive")


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, archive_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with daphne_server(log, {"MEDIA_ROOT": str(archive_root)}) as url:
        yield url


@pytest.fixture
def consult_ct(world: World, settings: Any, archive_root: Path) -> ConsultRequest:
    """A consult under review whose patient's five-image CT is attached, and the county
    hospital's grant that assigning it opened."""
    settings.MEDIA_ROOT = archive_root
    world.patient.health_card_number = CARD
    world.patient.save()
    for number in range(1, IMAGES + 1):
        result = instance_ingest(
            data=for_patient(
                "CT_small.dcm",
                world.patient,
                StudyInstanceUID=STUDY_UID,
                SeriesInstanceUID=SERIES_UID,
                SOPInstanceUID=f"{SERIES_UID}.{number}",
                InstanceNumber=str(number),
            ),
            source=IngestSource.STOW,
            institution=world.township,
            user=world.clinic_doctor,
        )
        assert result.status is IngestStatus.STORED, result.message
    series = Series.objects.select_related("study").get(series_instance_uid=SERIES_UID)
    series_previews_render(series_id=series.pk)
    consult = make_consult(world, Status.UNDER_REVIEW)
    ConsultStudy.objects.create(
        consult=consult, study=series.study, attached_by=practitioner_of(world.clinic_doctor)
    )
    access_grant_open(
        patient_id=world.patient.pk,
        institution_id=world.county.pk,
        user_id=world.specialist.pk,
        source_type="consult",
        source_id=str(consult.pk),
        reason=f"Consult {consult.pk}",
    )
    return consult


@pytest.fixture
def browser(server: str, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Headless Chromium; every open tab is screenshotted into test-artifacts/ on failure.

    Request it after the fixtures that write to the database: Playwright keeps an event loop
    running on this thread, and Django refuses ORM calls from such a thread.
    """
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        with screenshots_if_failed(
            request, lambda: [tab for context in chromium.contexts for tab in context.pages]
        ):
            yield chromium
        refused = csp_violations(chromium)
        chromium.close()
    assert refused == [], refused


def _tab(browser: Browser, server: str, username: str) -> Page:
    """A new browser context (its own session), in Chinese, signed in as `username`."""
    context = browser.new_context(
        locale="zh-CN", base_url=server, viewport={"width": 1280, "height": 900}
    )
    watch_csp(context)
    tab = context.new_page()
    tab.set_default_timeout(EXPECT_TIMEOUT_MS)
    tab.goto("/")
    tab.locator("#id_username").fill(username)
    tab.locator("#id_password").fill(PASSWORD)
    tab.locator("form.form button[type=submit]").click()
    expect(tab.locator("#id_username")).to_have_count(0)
    return tab


def _in_thread(call: Callable[[], T]) -> T:
    # Django refuses ORM calls from Playwright's thread, which runs an event loop.
    def run() -> T:
        try:
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


def _open_review(tab: Page, consult: ConsultRequest, role: str) -> None:
    tab.goto(f"/consults/{consult.pk}/")
    tab.locator("[data-testid=shared-review]").click()
    expect(tab.locator("#viewer")).to_have_attribute("data-quality", "diagnostic")
    expect(tab.locator("#review")).to_have_attribute("data-role", role)


def _follow_latency_ms(lead: Page, follower: Page, press: str) -> tuple[float, dict[str, Any]]:
    """Press a key in the lead's tab; how long until the follower shows the lead's state."""
    lead.evaluate(WATCH_KEY)
    before = lead.evaluate("() => window.yunzhenViewer.viewState()")
    lead.keyboard.press(press)
    lead.wait_for_function(
        "(before) => JSON.stringify(window.yunzhenViewer.viewState()) !== before",
        arg=str(before),
    )
    expected: dict[str, Any] = lead.evaluate("() => window.yunzhenViewer.viewState()")
    follower.evaluate(WATCH_FOLLOWER, expected)
    follower.wait_for_function("() => window.reviewReachedAt !== null", timeout=FOLLOW_WITHIN_MS)
    pressed = lead.evaluate("() => window.reviewPressedAt")
    reached = follower.evaluate("() => window.reviewReachedAt")
    return reached - pressed, expected


def _draw_length(tab: Page) -> None:
    """Measure with the Length tool: a drag across the middle of the image."""
    tab.keyboard.press("l")
    box = tab.locator("#viewer .viewer-viewport").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tab.mouse.move(x - 120, y - 60)
    tab.mouse.down()
    for step in range(1, 11):
        tab.mouse.move(x - 120 + 24 * step, y - 60 + 12 * step)
    tab.mouse.up()


def _annotation_pixels(png: bytes) -> int:
    """Pixels of the green Cornerstone draws a measurement in; a CT image itself is grey."""
    with Image.open(io.BytesIO(png)) as image:
        colours = cast(
            "list[tuple[int, tuple[int, int, int]]]", image.convert("RGB").getcolors(1 << 22)
        )
    return sum(count for count, (r, g, b) in colours if g - max(r, b) > 40)


def test_the_follower_sees_what_the_lead_sees_and_the_leads_measurement_reaches_the_pdf(
    consult_ct: ConsultRequest, browser: Browser, server: str, tmp_path: Path
) -> None:
    consult = consult_ct
    lead = _tab(browser, server, "specialist")
    follower = _tab(browser, server, "clinic")

    _open_review(lead, consult, "lead")
    _open_review(follower, consult, "follower")
    expect(follower.locator("[data-testid=review-status]")).to_contain_text("正在跟随")
    expect(lead.locator(".review-person")).to_have_count(2)

    # The lead scrolls two images on from the middle one and chooses the lung window.
    lead.keyboard.press("ArrowDown")
    scroll_ms, scrolled = _follow_latency_ms(lead, follower, "ArrowDown")
    window_ms, windowed = _follow_latency_ms(lead, follower, "1")
    logger.info("Follower caught up: scroll %.0f ms, window %.0f ms", scroll_ms, window_ms)
    assert scroll_ms < FOLLOW_WITHIN_MS
    assert window_ms < FOLLOW_WITHIN_MS
    assert windowed["imageIndex"] == scrolled["imageIndex"] == IMAGES - 1
    assert (windowed["windowWidth"], windowed["windowCenter"]) == (1500, -600)
    followed = follower.evaluate("() => window.yunzhenViewer.viewState()")
    assert (followed["imageIndex"], followed["windowWidth"], followed["windowCenter"]) == (
        windowed["imageIndex"],
        1500,
        -600,
    )
    # A follower's viewer takes no input of its own.
    expect(follower.locator("#viewer")).to_have_attribute("data-interactive", "false")

    # The lead measures; the follower sees it at once and it is saved with the consult.
    _draw_length(lead)
    follower.wait_for_function("() => window.yunzhenViewer.annotations().length === 1")
    expect(lead.locator("#review")).to_have_attribute("data-annotations-saved", "1")
    saved = _in_thread(lambda: list(ReviewAnnotation.objects.filter(consult=consult)))
    assert [a.tool for a in saved] == ["Length"]

    # The lead makes the displayed image, measurement drawn on it, a key image of the opinion.
    lead.locator(".review-key-image-caption").fill("右下肺病灶测量")
    lead.locator(".review-key-image button").click()
    expect(lead.locator("#review")).to_have_attribute("data-key-images", "1")
    key_image = _in_thread(lambda: OpinionKeyImage.objects.get(version__opinion__consult=consult))
    assert key_image.sop_instance_uid == f"{SERIES_UID}.{windowed['imageIndex'] + 1}"
    snapshot = _in_thread(lambda: key_image.file.open("rb").read())
    assert _annotation_pixels(snapshot) > 200

    # The lead signs; the signed opinion shows the key image and its PDF embeds it.
    lead.goto(f"/consults/{consult.pk}/opinion/edit/")
    lead.locator("#id_impression").fill("右下肺结节")
    lead.locator("section[aria-labelledby=draft-title] .form-actions button[type=submit]").click()
    expect(lead.locator(".message--success")).to_be_visible()
    lead.locator("#id_password").fill(PASSWORD)
    lead.locator("section[aria-labelledby=sign-title] button[type=submit]").click()
    expect(lead).to_have_url(f"{server}/consults/{consult.pk}/opinion/")
    shown = lead.locator("[data-testid=key-image] img")
    expect(shown).to_be_visible()
    lead.wait_for_function(
        "() => document.querySelector('[data-testid=key-image] img').naturalWidth > 0"
    )

    response = follower.request.get(f"/api/v1/consults/{consult.pk}/opinion/pdf/")
    assert response.status == 200
    pdf = tmp_path / "opinion.pdf"
    pdf.write_bytes(response.body())
    pdfimages = shutil.which("pdfimages")
    assert pdfimages, "pdfimages is missing: install Debian's poppler-utils (make services does)"
    listing = subprocess.run(
        [pdfimages, "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    # The canvas PNG has an alpha channel, which the PDF keeps as a soft mask beside it.
    images = [row.split() for row in listing if row.split()[2] == "image"]
    assert [row[3:5] for row in images] == [[str(key_image.width), str(key_image.height)]]
    subprocess.run([pdfimages, "-png", str(pdf), str(tmp_path / "img")], check=True)
    embedded = tmp_path / f"img-{int(images[0][1]):03d}.png"
    assert _annotation_pixels(embedded.read_bytes()) > 200


# The viewer as a failed render left it before the fix: a view state with NaN in it.
NAN_VIEW_STATE = """() => {
  Object.defineProperty(window, "yunzhenViewer", {
    configurable: true,
    set(handle) {
      const own = handle.viewState.bind(handle);
      handle.viewState = () => ({ ...own(), zoom: NaN, pan: [NaN, NaN] });
      Object.defineProperty(window, "yunzhenViewer", { value: handle, writable: true });
    },
  });
}"""


def test_a_room_socket_that_keeps_closing_is_retried_with_growing_waits(
    consult_ct: ConsultRequest, browser: Browser, server: str
) -> None:
    tab = _tab(browser, server, "specialist")
    opened: list[float] = []

    def accept_and_close(ws: WebSocketRoute) -> None:
        # A server that accepts the socket and closes it at once, as the room did on a bad
        # message.
        opened.append(time.monotonic())
        ws.close(code=4400, reason="bad")

    tab.route_web_socket("**/ws/consults/**", accept_and_close)

    tab.goto(f"/consults/{consult_ct.pk}/")
    tab.locator("[data-testid=shared-review]").click()
    assert until(tab, lambda: len(opened) >= 5, seconds=40), "timed out"

    waits = [later - earlier for earlier, later in itertools.pairwise(opened)]
    assert waits[0] >= 0.7, waits
    for shorter, longer in itertools.pairwise(waits):
        assert longer > shorter * 1.3, waits
    expect(tab.locator("[data-testid=review-status]")).to_have_text(
        "连接已断开，正在重新连接…"  # noqa: RUF001 - Chinese comma
    )


def test_a_view_state_with_nan_is_not_sent_and_the_room_stays_connected(
    consult_ct: ConsultRequest, browser: Browser, server: str
) -> None:
    tab = _tab(browser, server, "specialist")
    tab.add_init_script(script=f"({NAN_VIEW_STATE})()")
    sent: list[str] = []
    sockets: list[WebSocketRoute] = []

    def relay(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        room = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            sent.append(str(message))
            room.send(message)

        ws.on_message(from_page)

    tab.route_web_socket("**/ws/consults/**", relay)

    _open_review(tab, consult_ct, "lead")
    # Joining as the lead sends the view, then the annotations; the view was held back.
    expect(tab.locator("#review")).to_have_attribute("data-view-held-back", "1")
    tab.wait_for_function(
        "() => window.yunzhenViewer.annotations !== undefined"
        " && document.querySelector('#review').dataset.connected === 'true'"
    )
    types = [json.loads(message)["type"] for message in sent]
    assert "review.join" in types
    assert "review.view" not in types, sent
    assert all("null" not in message for message in sent), sent
    assert len(sockets) == 1


def test_no_key_image_is_offered_when_the_diagnostic_image_failed_to_draw(
    consult_ct: ConsultRequest, browser: Browser, server: str
) -> None:
    tab = _tab(browser, server, "specialist")
    tab.route("**/frames/*", lambda route: route.fulfill(status=500, body="archive down"))

    tab.goto(f"/consults/{consult_ct.pk}/")
    tab.locator("[data-testid=shared-review]").click()

    expect(tab.locator("#viewer .viewer-status")).to_contain_text("诊断图像无法显示")
    expect(tab.locator("#review")).to_have_attribute("data-connected", "true")
    button = tab.locator(".review-key-image button")
    expect(button).to_be_disabled()
    reason = tab.locator(".review-key-image-reason")
    expect(reason).to_be_visible()
    expect(reason).to_have_text("只能将屏幕上显示的诊断图像设为关键图像。")
    assert not _in_thread(lambda: OpinionKeyImage.objects.exists())
