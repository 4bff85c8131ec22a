"""The image viewer in headless Chromium against a real daphne and the real archive.

Cornerstone decodes the archive's frames (sent as stored) in its web workers; the tests read
what it drew from the viewport's canvas.
"""

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from openjpeg.utils import decode as j2k_decode
from playwright.sync_api import Page, Route, expect, sync_playwright

from imaging.models import IngestSource, Series
from imaging.services import (
    IngestStatus,
    instance_ingest,
    instance_lossy_frame_render,
    series_previews_render,
)
from server.directory.services import access_grant_open
from tests.conftest import World
from tests.factories import PASSWORD
from tests.imaging.conftest import for_patient
from tests.lib.browser import CHROMIUM, CHROMIUM_ARGS, screenshots_if_failed, watch_csp
from tests.lib.daphne import daphne_server
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name

# Committed data is what the daphne process sees, so these tests commit for real.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

CARD = "HC-0055"
EXPECT_TIMEOUT_MS = 20_000
US_CINE = "color3d_jpeg_baseline.dcm"  # 120 frames, JPEG baseline, FrameTime 33.3 ms
LOADED_BEFORE_PLAY = 30
# One file per transfer syntax the archive tests ingest (tests/imaging/test_dicomweb.py,
# test_previews.py, test_wado_frames.py), and the other syntaxes pydicom ships a file for.
TRANSFER_SYNTAX_FILES = {
    "1.2.840.10008.1.2": "MR_small_implicit.dcm",
    "1.2.840.10008.1.2.1": "CT_small.dcm",
    "1.2.840.10008.1.2.1.99": "image_dfl.dcm",
    "1.2.840.10008.1.2.2": "MR_small_bigendian.dcm",
    "1.2.840.10008.1.2.4.50": "SC_rgb_jpeg_dcmtk.dcm",
    "1.2.840.10008.1.2.4.51": "JPGExtended.dcm",
    "1.2.840.10008.1.2.4.70": "JPEG-LL.dcm",
    "1.2.840.10008.1.2.4.80": "MR_small_jpeg_ls_lossless.dcm",
    "1.2.840.10008.1.2.4.90": "US1_J2KR.dcm",
    "1.2.840.10008.1.2.4.90 multi-frame": "emri_small_jpeg_2k_lossless.dcm",
    "1.2.840.10008.1.2.4.91": "JPEG2000.dcm",
    "1.2.840.10008.1.2.5": "emri_small_RLE.dcm",
    "1.2.840.10008.1.2.5 RGB": "SC_rgb_rle.dcm",
}
# Statistics of the drawn image: brightness spread, distinct colours and a digest, sampled.
CANVAS_STATS = """() => {
  const canvas = document.querySelector("#viewer .viewer-viewport canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
  let sum = 0, squares = 0, count = 0, digest = 0;
  const colours = new Set();
  for (let i = 0; i < data.length; i += 4 * 5) {
    const value = (data[i] + data[i + 1] + data[i + 2]) / 3;
    sum += value; squares += value * value; count += 1;
    digest = (digest * 31 + data[i] * 65536 + data[i + 1] * 256 + data[i + 2]) >>> 0;
    if (colours.size < 4096) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  }
  const mean = sum / count;
  return { width: canvas.width, height: canvas.height, mean,
           spread: Math.sqrt(squares / count - mean * mean), colours: colours.size, digest };
}"""
NEXT_FRAME = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
_uids = itertools.count(1)


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
def carded(world: World, settings: Any, archive_root: Path) -> World:
    settings.MEDIA_ROOT = archive_root
    world.patient.health_card_number = CARD
    world.patient.save()
    return world


@pytest.fixture
def tab(server: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A Chinese-language tab of a fresh Chromium; screenshotted into test-artifacts/ on failure.

    Request it after the fixtures that write to the database: Playwright keeps an event loop
    running on this thread, and Django refuses ORM calls from such a thread.
    """
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            locale="zh-CN", base_url=server, viewport={"width": 1280, "height": 800}
        )
        refused = watch_csp(context)
        page = context.new_page()
        page.set_default_timeout(EXPECT_TIMEOUT_MS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        console: list[str] = []
        page.on(
            "console",
            lambda message: console.append(f"{message.type}: {message.text} {message.location}"),
        )
        page.on("pageerror", lambda error: console.append(f"page error: {error.stack}"))
        with screenshots_if_failed(request, lambda: [page], lambda: console):
            yield page
        browser.close()
    assert refused == [], refused


def _sign_in(page: Page, username: str) -> None:
    page.goto("/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.form button[type=submit]").click()
    expect(page.locator("#id_username")).to_have_count(0)


def _store(world: World, name: str, images: int = 1, **changes: str) -> Series:
    """Ingest the file as a study of its own (several of pydicom's files share their UIDs),
    `images` times over as instances 1, 2, … of one series."""
    n = next(_uids)
    for number in range(1, images + 1):
        result = instance_ingest(
            data=for_patient(
                name,
                world.patient,
                StudyInstanceUID=f"1.2.826.0.1.3680043.8.498.7701.{n}",
                SeriesInstanceUID=f"1.2.826.0.1.3680043.8.498.7702.{n}",
                SOPInstanceUID=f"1.2.826.0.1.3680043.8.498.7703.{n}.{number}",
                InstanceNumber=str(number),
                **changes,
            ),
            source=IngestSource.STOW,
            institution=world.township,
            user=world.clinic_doctor,
        )
        assert result.status is IngestStatus.STORED, result.message
    series = Series.objects.select_related("study").get(
        series_instance_uid=f"1.2.826.0.1.3680043.8.498.7702.{n}"
    )
    series_previews_render(series_id=series.pk)
    return series


@pytest.fixture
def consult_ct(carded: World) -> Series:
    """The CT study of a consult: the township's patient, opened to the county hospital."""
    series = _store(carded, "CT_small.dcm")
    access_grant_open(
        patient_id=carded.patient.pk,
        institution_id=carded.county.pk,
        user_id=carded.specialist.pk,
        source_type="consult",
        source_id="1",
        reason="Consult 1",
    )
    return series


@pytest.fixture
def ct_stack(carded: World) -> Series:
    return _store(carded, "CT_small.dcm", images=5)


@pytest.fixture
def ultrasound(carded: World) -> Series:
    return _store(carded, US_CINE)


@pytest.fixture
def stored(carded: World, request: pytest.FixtureRequest) -> Series:
    """The file named by the test's parameter, as a study of its own."""
    return _store(carded, request.param)


def _open_viewer(page: Page, series: Series) -> None:
    page.goto(f"/imaging/studies/{series.study.study_instance_uid}/view/")
    viewer = page.locator("#viewer")
    expect(viewer).to_have_attribute("data-quality", "diagnostic")
    expect(viewer.locator(".viewer-quality")).to_have_text("诊断")
    # On a link judged slow the first image may be drawn before Cornerstone arrives
    # (first.ts): these tests read Cornerstone's viewport, once it has taken the image over.
    expect(viewer.locator("canvas.viewer-first")).to_have_count(0)
    page.evaluate(NEXT_FRAME)


def _canvas(page: Page) -> dict[str, float]:
    stats: dict[str, float] = page.evaluate(CANVAS_STATS)
    return stats


def test_specialist_reads_a_consults_ct_and_window_presets_change_the_pixels(
    carded: World, consult_ct: Series, tab: Page
) -> None:
    series = consult_ct
    _sign_in(tab, "specialist")

    _open_viewer(tab, series)

    drawn = _canvas(tab)
    assert drawn["width"] > 300
    assert drawn["height"] > 300
    assert drawn["spread"] > 10, drawn
    assert drawn["colours"] > 50, drawn
    overlay = tab.locator("#viewer")
    expect(overlay.locator(".viewer-overlay--top-left")).to_contain_text(carded.patient.name)
    expect(overlay.locator(".viewer-index")).to_have_text("图像 1 / 1")

    tab.keyboard.press("1")  # lung window
    expect(overlay.locator(".viewer-wl")).to_have_text("W 1500 L -600")
    tab.evaluate(NEXT_FRAME)
    lung = _canvas(tab)
    assert lung["digest"] != drawn["digest"]
    assert abs(lung["mean"] - drawn["mean"]) > 1, (drawn, lung)

    tab.locator(".viewer-presets").select_option("bone")
    expect(overlay.locator(".viewer-wl")).to_have_text("W 2000 L 500")
    tab.locator("[data-action=invert]").click()
    tab.evaluate(NEXT_FRAME)
    assert _canvas(tab)["digest"] != lung["digest"]

    # The handle the consult's shared review drives: a state applied is the state read back.
    state = {
        "seriesInstanceUid": series.series_instance_uid,
        "imageIndex": 0,
        "windowCenter": 40,
        "windowWidth": 80,
        "invert": False,
        "zoom": 2,
        "pan": [10, -5],
    }
    read_back = tab.evaluate(
        "async (state) => { await window.yunzhenViewer.applyViewState(state);"
        " return window.yunzhenViewer.viewState(); }",
        state,
    )
    assert read_back == state
    expect(overlay.locator(".viewer-wl")).to_have_text("W 80 L 40")
    png = tab.evaluate(
        "async () => { const blob = await window.yunzhenViewer.snapshotPng();"
        " return [blob.type, blob.size]; }"
    )
    assert png[0] == "image/png"
    assert png[1] > 1000


def test_viewer_handle_reports_the_users_changes_pointer_and_measurements(
    consult_ct: Series, tab: Page
) -> None:
    _sign_in(tab, "clinic")
    _open_viewer(tab, consult_ct)
    tab.evaluate(
        """() => {
          const viewer = window.yunzhenViewer;
          window.changes = [];
          window.pointers = [];
          window.annotationChanges = 0;
          viewer.onViewStateChange((state) => window.changes.push(state));
          viewer.onPointerMove((pointer) => window.pointers.push(pointer));
          viewer.onAnnotationsChange(() => { window.annotationChanges += 1; });
        }"""
    )

    # A state applied from outside is not reported back; the user's own change is.
    state = tab.evaluate("() => window.yunzhenViewer.viewState()")
    tab.evaluate(
        "(state) => window.yunzhenViewer.applyViewState(state)", {**state, "windowWidth": 400}
    )
    tab.evaluate(NEXT_FRAME)
    assert tab.evaluate("() => window.changes.length") == 0
    tab.keyboard.press("3")  # bone window
    tab.wait_for_function("() => window.changes.some((state) => state.windowWidth === 2000)")

    # A length measured with the mouse is an annotation on the displayed instance.
    box = tab.locator("#viewer .viewer-viewport").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tab.keyboard.press("l")
    expect(tab.locator("[data-tool=Length]")).to_have_attribute("aria-pressed", "true")
    tab.mouse.move(x - 80, y)
    tab.mouse.down()
    tab.mouse.move(x + 80, y, steps=8)
    tab.mouse.up()
    tab.wait_for_function("() => window.yunzhenViewer.annotations().length === 1")
    (saved,) = tab.evaluate("() => window.yunzhenViewer.annotations()")
    assert saved["tool"] == "Length"
    assert saved["seriesInstanceUid"] == consult_ct.series_instance_uid
    n = consult_ct.series_instance_uid.rsplit(".", 1)[1]
    assert saved["sopInstanceUid"] == f"1.2.826.0.1.3680043.8.498.7703.{n}.1"
    assert tab.evaluate("() => window.annotationChanges") >= 1
    pointer = tab.evaluate("() => window.pointers.at(-1)")
    assert 0 <= pointer["x"] <= 128
    assert 0 <= pointer["y"] <= 128

    # An arrow asks for its text in the page's own dialog, in the page's language.
    tab.keyboard.press("t")
    tab.mouse.move(x - 40, y + 40)
    tab.mouse.down()
    tab.mouse.move(x + 10, y + 10, steps=8)
    tab.mouse.up()
    dialog = tab.locator("dialog.viewer-ask")
    expect(dialog).to_contain_text("箭头")
    dialog.locator("input").fill("右下肺阴影")
    dialog.get_by_role("button", name="确定").click()
    arrow = tab.wait_for_function(
        "() => window.yunzhenViewer.annotations()"
        ".find((a) => a.tool === 'ArrowAnnotate' && a.data.data.label)"
    ).json_value()
    assert arrow["data"]["data"]["label"] == "右下肺阴影"
    expect(dialog).to_have_count(0)
    tab.keyboard.press("l")

    # Annotations set from outside replace the displayed ones.
    tab.evaluate("() => window.yunzhenViewer.setAnnotations([])")
    assert tab.evaluate("() => window.yunzhenViewer.annotations()") == []
    tab.evaluate("(saved) => window.yunzhenViewer.setAnnotations([saved])", saved)
    restored = tab.evaluate("() => window.yunzhenViewer.annotations()")
    assert [item["annotationUid"] for item in restored] == [saved["annotationUid"]]

    tab.evaluate("() => window.yunzhenViewer.showRemotePointer({ x: 64, y: 64 }, '李医生')")
    expect(tab.locator(".viewer-pointer")).to_be_visible()
    expect(tab.locator(".viewer-pointer")).to_contain_text("李医生")
    tab.evaluate("() => window.yunzhenViewer.setInteractive(false)")
    expect(tab.locator("[data-action=invert]")).to_be_disabled()


def test_preview_shows_at_once_and_diagnostic_frames_start_from_the_displayed_image(
    ct_stack: Series, tab: Page
) -> None:
    _sign_in(tab, "clinic")
    held: list[Route] = []
    requested: list[int] = []

    def hold_until_released(route: Route) -> None:
        # The instance number is the last component of these SOP Instance UIDs.
        requested.append(int(route.request.url.split("/frames/")[0].rsplit(".", 1)[1]))
        if released:
            route.continue_()
        else:
            held.append(route)

    released = False
    tab.route("**/frames/*", hold_until_released)

    tab.goto(f"/imaging/studies/{ct_stack.study.study_instance_uid}/view/")

    viewer = tab.locator("#viewer")
    expect(viewer).to_have_attribute("data-quality", "preview")
    expect(viewer.locator(".viewer-quality")).to_have_text("预览 · 不可用于诊断")
    preview = viewer.locator("img.viewer-preview")
    expect(preview).to_be_visible()
    assert preview.get_attribute("src") == (
        f"/imaging/studies/{ct_stack.study.study_instance_uid}"
        f"/series/{ct_stack.series_instance_uid}/preview/"
    )
    tab.wait_for_function("() => document.querySelector('img.viewer-preview').naturalWidth > 0")
    # The preview is the middle image; its frame is asked for first, once the preview has
    # shown how fast the link is (frontend/src/viewer/quality.ts).
    for _ in range(200):
        if requested:
            break
        tab.wait_for_timeout(50)
    assert requested == [3]

    released = True
    for route in held:
        route.continue_()
    expect(viewer).to_have_attribute("data-quality", "diagnostic")
    expect(viewer.locator(".viewer-quality")).to_have_text("诊断")
    expect(preview).to_be_hidden()
    expect(viewer.locator(".viewer-index")).to_have_text("图像 3 / 5")
    # Then the prefetch fetches the rest, nearest to the displayed image first.
    tab.wait_for_function(
        "() => performance.getEntriesByType('resource')"
        ".filter((entry) => entry.name.includes('/frames/')).length >= 5"
    )
    assert requested[0] == 3
    assert set(requested[1:3]) == {2, 4}
    assert set(requested[3:5]) == {1, 5}


def test_multiframe_ultrasound_plays_while_frames_arrive(ultrasound: Series, tab: Page) -> None:
    _sign_in(tab, "clinic")
    # Frames after the 30th are held back until the clip is already playing.
    held: list[Route] = []
    released = False

    def hold_late_frames(route: Route) -> None:
        if released or int(route.request.url.rsplit("/", 1)[1]) <= LOADED_BEFORE_PLAY:
            route.continue_()
        else:
            held.append(route)

    tab.route("**/frames/*", hold_late_frames)

    _open_viewer(tab, ultrasound)

    viewer = tab.locator("#viewer")
    expect(viewer).to_have_attribute("data-frames", "120")
    expect(viewer.locator(".viewer-index")).to_have_text("图像 1 / 120")
    assert _canvas(tab)["spread"] > 5
    tab.locator("[data-action=play]").click()
    expect(viewer).to_have_attribute("data-cine", "playing")
    tab.wait_for_function("() => Number(document.querySelector('#viewer').dataset.imageIndex) >= 5")
    assert held, "every frame had arrived before the clip played"

    released = True
    for route in held:
        route.continue_()
    tab.wait_for_function(
        f"() => Number(document.querySelector('#viewer').dataset.imageIndex) > {LOADED_BEFORE_PLAY}"
    )
    tab.keyboard.press(" ")
    expect(viewer).to_have_attribute("data-cine", "stopped")


@pytest.mark.parametrize(
    "stored",
    TRANSFER_SYNTAX_FILES.values(),
    ids=list(TRANSFER_SYNTAX_FILES.keys()),
    indirect=True,
)
def test_every_transfer_syntax_is_drawn(stored: Series, tab: Page) -> None:
    _sign_in(tab, "clinic")

    _open_viewer(tab, stored)

    drawn = _canvas(tab)
    assert drawn["spread"] > 3, drawn
    assert drawn["colours"] > 10, drawn


def _zoom_percent(page: Page) -> str:
    return page.locator("#viewer .viewer-zoom").inner_text()


# RG1_UNCR is the demo chest radiograph (imaging/demo.py); both store PixelSpacing 0\0.
@pytest.mark.parametrize("stored", ["RG1_J2KR.dcm", "RG1_UNCR.dcm"], indirect=True)
def test_radiograph_with_zero_pixel_spacing_is_drawn_in_pixels_and_says_uncalibrated(
    stored: Series, tab: Page
) -> None:
    # PixelSpacing 0\0: the image is drawn as pixels, its window is the file's, and lengths
    # are measured in px under a visible "uncalibrated" note.
    _sign_in(tab, "clinic")

    _open_viewer(tab, stored)

    viewer = tab.locator("#viewer")
    drawn = _canvas(tab)
    assert drawn["spread"] > 10, drawn
    assert drawn["colours"] > 50, drawn
    expect(viewer.locator(".viewer-calibration")).to_have_text("未校准 · 测量单位为像素")
    expect(viewer.locator(".viewer-calibration")).to_be_visible()
    zoom = _zoom_percent(tab)
    assert zoom.endswith("%"), zoom
    assert zoom[:-1].isdigit(), zoom
    tab.keyboard.press("3")  # bone window
    expect(viewer.locator(".viewer-wl")).to_have_text("W 2000 L 500")
    tab.evaluate(NEXT_FRAME)
    assert _canvas(tab)["digest"] != drawn["digest"]
    tab.keyboard.press("r")
    expect(viewer.locator(".viewer-wl")).to_have_text("W 30000 L 15000")
    state = tab.evaluate("() => window.yunzhenViewer.viewState()")
    assert state["zoom"] > 0
    assert all(isinstance(v, int | float) for v in state["pan"])

    box = tab.locator("#viewer .viewer-viewport").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tab.keyboard.press("l")
    tab.mouse.move(x - 80, y)
    tab.mouse.down()
    tab.mouse.move(x + 80, y, steps=8)
    tab.mouse.up()
    expect(viewer.locator("svg text").first).to_contain_text("px")


def test_a_frame_that_fails_to_load_is_said_in_words_never_marked_diagnostic(
    ct_stack: Series, tab: Page
) -> None:
    _sign_in(tab, "clinic")
    tab.route("**/frames/*", lambda route: route.fulfill(status=500, body="archive down"))

    tab.goto(f"/imaging/studies/{ct_stack.study.study_instance_uid}/view/")

    viewer = tab.locator("#viewer")
    status = viewer.locator(".viewer-status")
    expect(status).to_have_text("诊断图像无法显示：图像无法加载或解码。")  # noqa: RUF001 - Chinese colon
    expect(status).to_have_attribute("role", "alert")
    # The archive's preview is still on screen, under its own "not for diagnosis" badge.
    expect(viewer).to_have_attribute("data-quality", "preview")
    expect(viewer.locator(".viewer-quality")).to_have_text("预览 · 不可用于诊断")
    assert tab.evaluate("() => window.yunzhenViewer.quality()") == "preview"
    refused = tab.evaluate(
        "() => window.yunzhenViewer.snapshotPng().then(() => 'made', (e) => e.message)"
    )
    assert refused != "made"


@pytest.fixture
def window_off_the_scale(carded: World) -> Series:
    """A CT whose stored window lies far above every pixel value: it draws one flat colour."""
    return _store(carded, "CT_small.dcm", WindowCenter="90000", WindowWidth="400")


def test_a_stored_window_that_blanks_the_image_gives_way_to_the_images_own_range(
    window_off_the_scale: Series, tab: Page
) -> None:
    _sign_in(tab, "clinic")

    _open_viewer(tab, window_off_the_scale)

    drawn = _canvas(tab)
    assert drawn["spread"] > 10, drawn
    assert drawn["colours"] > 50, drawn
    expect(tab.locator("#viewer .viewer-wl")).not_to_have_text("W 400 L 90000")


def test_on_a_phone_the_series_are_a_strip_and_the_image_gets_the_width(
    consult_ct: Series, tab: Page
) -> None:
    tab.set_viewport_size({"width": 390, "height": 844})
    _sign_in(tab, "clinic")

    _open_viewer(tab, consult_ct)

    viewer = tab.locator("#viewer").bounding_box()
    canvas = tab.locator("#viewer .viewer-viewport canvas").bounding_box()
    strip = tab.locator("#viewer .viewer-series").bounding_box()
    assert viewer is not None
    assert canvas is not None
    assert strip is not None
    assert canvas["width"] >= 0.95 * viewer["width"], (canvas, viewer)
    # The strip sits above the image, not beside it.
    assert strip["y"] + strip["height"] <= canvas["y"] + 1, (strip, canvas)
    assert strip["height"] < 0.25 * viewer["height"], (strip, viewer)


def test_the_ellipse_statistics_are_in_the_pages_language(consult_ct: Series, tab: Page) -> None:
    _sign_in(tab, "clinic")
    _open_viewer(tab, consult_ct)
    box = tab.locator("#viewer .viewer-viewport").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    tab.keyboard.press("e")
    tab.mouse.move(x - 60, y - 40)
    tab.mouse.down()
    tab.mouse.move(x + 60, y + 40, steps=8)
    tab.mouse.up()

    text = tab.locator("#viewer svg text")
    expect(text.filter(has_text="平均值")).to_have_count(1)
    expect(text.filter(has_text="标准差")).to_have_count(1)
    expect(text.filter(has_text="面积")).to_have_count(1)
    for english in ("Mean", "Std Dev", "Area", "Max", "Min"):
        expect(text.filter(has_text=english)).to_have_count(0)


# --- The first image without Cornerstone on a slow link (frontend/src/viewer/first.ts) --------

CHEST_CR = "RG1_UNCR.dcm"  # 1955 x 1841, 15 bits, MONOCHROME1, window 15000/30000
# A link the viewer judges slow (below 1 MB/s) that still keeps these tests short.
SLOW_LINK = {
    "offline": False,
    "latency": 0,
    "downloadThroughput": 400_000,
    "uploadThroughput": 400_000,
}
FIRST_CANVAS_PIXELS = """(points) => {
  const canvas = document.querySelector("#viewer canvas.viewer-first");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return points.map(([x, y]) => context.getImageData(x, y, 1, 1).data[0]);
}"""


def _slow_link(page: Page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_LINK)


def _first_image_files() -> set[str]:
    """The scripts the page loads itself (the entries its HTML names, with what they import:
    the site's and the viewer's small entry, which draws the first image); the first image's
    decoding worker is added by name. Every other script is Cornerstone's or comes after it."""
    manifest = json.loads((Path(settings.FRONTEND_DIST) / ".vite" / "manifest.json").read_text())

    def files(key: str) -> list[str]:
        chunk = manifest[key]
        return [chunk["file"], *(f for i in chunk.get("imports", []) for f in files(i))]

    entries = [key for key, chunk in manifest.items() if chunk.get("isEntry")]
    assert "src/viewer/main.ts" in entries
    return {name.rsplit("/", 1)[-1] for key in entries for name in files(key)}


def _hold_cornerstone(page: Page) -> Callable[[], None]:
    """Holds every script under /static/assets/ except the first image's; returns the release."""
    allowed = _first_image_files()
    held: list[Route] = []
    released = False

    def hold(route: Route) -> None:
        name = route.request.url.rsplit("/", 1)[-1].split("?", 1)[0]
        if released or name in allowed or name.startswith("firstDecode.worker-"):
            route.continue_()
        else:
            held.append(route)

    def release() -> None:
        nonlocal released
        released = True
        for route in held:
            route.continue_()

    page.route("**/static/assets/*.js", hold)
    return release


class ChestFilm(NamedTuple):
    series: Series
    #: The lossy copy's pixels, decoded here.
    lossy: np.ndarray[Any, Any]


@pytest.fixture
def chest_cr(carded: World) -> ChestFilm:
    """A chest radiograph stored uncompressed (7 MB), with its lossy copy made."""
    series = _store(carded, CHEST_CR)
    instance = series.instances.get()
    instance_lossy_frame_render(instance_id=instance.pk)
    instance.refresh_from_db()
    with default_storage.open(instance.lossy_frame_name) as lossy:
        pixels = j2k_decode(lossy.read())
    return ChestFilm(series, pixels)


def _expected_greys(film: ChestFilm, points: list[tuple[int, int]]) -> list[int]:
    """The lossy copy through the stored window 15000/30000, inverted (MONOCHROME1)."""
    lower, upper = 15000 - 30000 / 2, 15000 + 30000 / 2
    values = film.lossy.astype(np.float64)
    greys = np.clip(np.round((values - lower) * 255 / (upper - lower)), 0, 255)
    return [int(255 - greys[y, x]) for x, y in points]


def test_on_a_slow_link_the_chest_film_is_drawn_before_cornerstone_arrives_then_handed_over(
    chest_cr: ChestFilm, tab: Page
) -> None:
    series = chest_cr.series
    _sign_in(tab, "clinic")
    frames: list[str] = []
    tab.on("request", lambda r: frames.append(r.url) if "/frames/" in r.url else None)
    _slow_link(tab)
    release = _hold_cornerstone(tab)

    tab.goto(f"/imaging/studies/{series.study.study_instance_uid}/view/")

    # Drawn and labelled by the first image module while Cornerstone's scripts are held.
    viewer = tab.locator("#viewer")
    expect(viewer).to_have_attribute("data-quality", "diagnostic")
    expect(viewer.locator(".viewer-quality")).to_have_text("诊断 · 有损压缩 10:1")
    first = viewer.locator("canvas.viewer-first")
    expect(first).to_be_visible()
    expect(viewer.locator(".viewer-status")).to_have_text("工具加载中…")
    expect(viewer.locator("[data-action=lossless]")).to_have_text("加载无损原图")
    assert viewer.get_attribute("data-first") == "drawn"
    assert tab.evaluate("() => window.yunzhenViewer === undefined")
    assert (first.get_attribute("width"), first.get_attribute("height")) == ("1841", "1955")
    points = [(x, y) for x in (200, 920, 1640) for y in (300, 977, 1700)]
    drawn = tab.evaluate(FIRST_CANVAS_PIXELS, points)
    expected = _expected_greys(chest_cr, points)
    assert max(abs(a - b) for a, b in zip(drawn, expected, strict=True)) <= 2, (drawn, expected)
    assert len(set(drawn)) > 3, drawn
    assert len(frames) == 1

    # Cornerstone arrives and takes the image over without fetching the frame again.
    release()
    tab.wait_for_function("() => window.yunzhenViewer !== undefined")
    tab.evaluate("() => window.yunzhenViewer.ready")
    expect(first).to_have_count(0)
    expect(viewer).to_have_attribute("data-quality", "diagnostic")
    expect(viewer.locator(".viewer-quality")).to_have_text("诊断 · 有损压缩 10:1")
    expect(viewer.locator("[data-action=lossless]")).to_be_visible()
    expect(viewer.locator(".viewer-status")).to_be_hidden()
    expect(viewer.locator(".viewer-wl")).to_have_text("W 30000 L 15000")
    tab.evaluate(NEXT_FRAME)
    assert _canvas(tab)["spread"] > 10
    assert len(frames) == 1, frames

    # Then everything works as without the first image module: window/level and measuring.
    box = tab.locator("#viewer .viewer-viewport").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tab.mouse.move(x, y)
    tab.mouse.down()
    tab.mouse.move(x + 60, y + 40, steps=6)
    tab.mouse.up()
    expect(viewer.locator(".viewer-wl")).not_to_have_text("W 30000 L 15000")
    tab.keyboard.press("l")
    tab.mouse.move(x - 80, y)
    tab.mouse.down()
    tab.mouse.move(x + 80, y, steps=8)
    tab.mouse.up()
    tab.wait_for_function("() => window.yunzhenViewer.annotations().length === 1")
    assert tab.evaluate("() => window.yunzhenViewer.annotations()[0].tool") == "Length"


@pytest.mark.parametrize("stored", ["MR_small_jpeg_ls_lossless.dcm"], indirect=True)
def test_a_frame_the_first_image_module_cannot_decode_is_drawn_by_cornerstone(
    stored: Series, tab: Page
) -> None:
    """JPEG-LS is left to Cornerstone, which decodes the bytes already received."""
    _sign_in(tab, "clinic")
    frames: list[str] = []
    tab.on("request", lambda r: frames.append(r.url) if "/frames/" in r.url else None)
    _slow_link(tab)

    _open_viewer(tab, stored)

    viewer = tab.locator("#viewer")
    assert "transfer syntax 1.2.840.10008.1.2.4.80" in (viewer.get_attribute("data-first") or "")
    expect(viewer.locator("canvas.viewer-first")).to_have_count(0)
    drawn = _canvas(tab)
    assert drawn["spread"] > 10, drawn
    assert len(frames) == 1, frames


def test_a_corrupt_frame_falls_back_to_cornerstone_fetching_it_again(
    consult_ct: Series, tab: Page
) -> None:
    """A frame that does not decode is never shown by the first image module, nor handed to
    Cornerstone, which fetches the frame itself and draws it."""
    _sign_in(tab, "clinic")
    answered: list[str] = []

    def corrupt_first(route: Route) -> None:
        if answered:
            route.continue_()
            return
        answered.append(route.request.url)
        boundary = "yz-test-boundary"
        body = (
            f"--{boundary}\r\nContent-Type: application/octet-stream; "
            f"transfer-syntax=1.2.840.10008.1.2.4.91\r\n\r\n".encode()
            + b"\xff\x4f\xff\x51"
            + b"\x00garbage" * 64
            + f"\r\n--{boundary}--\r\n".encode()
        )
        route.fulfill(
            status=200,
            body=body,
            headers={
                "Content-Type": f'multipart/related; type="application/octet-stream"; '
                f"boundary={boundary}"
            },
        )

    tab.route("**/frames/*", corrupt_first)
    _slow_link(tab)

    _open_viewer(tab, consult_ct)

    viewer = tab.locator("#viewer")
    assert (viewer.get_attribute("data-first") or "").startswith("left to Cornerstone"), (
        viewer.get_attribute("data-first")
    )
    expect(viewer.locator("canvas.viewer-first")).to_have_count(0)
    assert _canvas(tab)["spread"] > 10
    assert len(answered) == 1
