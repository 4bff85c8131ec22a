"""The consult's image upload page in headless Chromium against a real daphne: files are checked
in the browser, summarised by patient and study, sent with tus, and the study is attached."""

import hashlib
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import FilePayload, Page, expect, sync_playwright
from pydicom.uid import generate_uid

from consult.models import ConsultStudy, Status
from imaging.models import Instance
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.factories import PASSWORD
from tests.imaging.conftest import dataset_bytes, dicom_dataset
from tests.lib.browser import CHROMIUM, CHROMIUM_ARGS, screenshots_if_failed, watch_csp
from tests.lib.daphne import daphne_server
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]
EXPECT_TIMEOUT_MS = 20_000
CARD = "HC-0001"


def _slices(count: int) -> list[bytes]:
    study_uid, series_uid = generate_uid(), generate_uid()
    files = []
    for number in range(1, count + 1):
        ds = dicom_dataset("CT_small.dcm")
        ds.PatientID = CARD
        ds.PatientName = "WANG^XIUYING"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = number
        files.append(dataset_bytes(ds))
    return files


def _database(call: Any) -> Any:
    # Playwright's sync API runs an event loop on this thread, where Django refuses ORM calls.
    def run() -> Any:
        try:
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


@pytest.fixture
def media(tmp_path: Path, settings: Any) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def consult_id(world: World) -> int:
    """An accepted consult of the patient whose health card number the images carry."""
    world.patient.health_card_number = CARD
    world.patient.save(update_fields=["health_card_number"])
    return make_consult(world, Status.ACCEPTED).pk


@pytest.fixture
def tab(
    media: Path, tmp_path: Path, world: World, consult_id: int, request: pytest.FixtureRequest
) -> Iterator[Page]:
    with (
        daphne_server(tmp_path / "daphne.log", {"MEDIA_ROOT": str(media)}) as server,
        sync_playwright() as playwright,
    ):
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        context = chromium.new_context(locale="zh-CN", base_url=server)
        refused = watch_csp(context)
        page = context.new_page()
        page.set_default_timeout(EXPECT_TIMEOUT_MS)
        with screenshots_if_failed(request, lambda: [page]):
            page.goto("/")
            page.locator("#id_username").fill(world.clinic_doctor.username)
            page.locator("#id_password").fill(PASSWORD)
            page.locator("form.form button[type=submit]").click()
            expect(page).to_have_url(re.compile(r"/$"))
            yield page
        chromium.close()
    assert refused == [], refused


def test_clinic_doctor_checks_sends_and_attaches_a_study_and_sees_the_broken_file(
    tab: Page, consult_id: int
) -> None:
    page = tab
    slices = _slices(4)
    good, broken = slices[:3], slices[3][:8000]
    payloads = [
        FilePayload(name=f"IM{n:04d}", mimeType="", buffer=data) for n, data in enumerate(good)
    ]
    payloads += [
        FilePayload(name="IM_BROKEN", mimeType="", buffer=broken),
        FilePayload(name="README.TXT", mimeType="text/plain", buffer=b"Exported by the CT.\n"),
    ]

    page.goto(f"/consults/{consult_id}/images/upload/")
    page.locator("#dicom-files").set_input_files(payloads)

    study = page.locator("article.dicom-study")
    expect(page.locator(".dicom-patient h2")).to_contain_text("WANG XIUYING · HC-0001")
    expect(study.locator(".dicom-series > li")).to_contain_text("CT")
    expect(study.locator(".dicom-series > li")).to_contain_text("4 个文件")
    expect(page.locator("#dicom-skipped")).to_contain_text(
        "README.TXT: 已跳过：不是 DICOM 文件"  # noqa: RUF001 - the page's fullwidth colon
    )
    # Same patient ID, name in pinyin: pointed out, not warned against, and ticked.
    expect(page.locator(".dicom-name-differs")).to_contain_text("王秀英")
    expect(page.locator(".dicom-mismatch")).to_have_count(0)
    expect(study.locator("input[type=checkbox]")).to_be_checked()

    page.locator("#dicom-send").click()

    expect(study.locator(".dicom-study-percent")).to_have_text("100%")
    expect(study.locator(".dicom-study-note")).to_have_text("已附加到会诊")
    expect(study.locator(".dicom-file--done")).to_have_count(3)
    expect(study.locator(".dicom-file--error")).to_have_text(
        re.compile(r"IM_BROKEN.*被存档拒收： 这不是存档能读取的 DICOM 文件。")  # noqa: RUF001 - the page's fullwidth colon
    )
    stored = _database(lambda: sorted(i.sha256 for i in Instance.objects.all()))
    assert stored == sorted(hashlib.sha256(data).hexdigest() for data in good)
    assert _database(lambda: ConsultStudy.objects.filter(consult_id=consult_id).count()) == 1


def test_the_upload_summary_shows_dicom_dates_as_days(tab: Page, consult_id: int) -> None:
    ds = dicom_dataset("CT_small.dcm")
    ds.PatientID, ds.PatientName, ds.PatientBirthDate = CARD, "WANG^XIUYING", "19620315"

    tab.goto(f"/consults/{consult_id}/images/upload/")
    tab.locator("#dicom-files").set_input_files(
        [FilePayload(name="IM0001", mimeType="", buffer=dataset_bytes(ds))]
    )

    study = tab.locator("article.dicom-study h3")
    expect(study).to_contain_text("2004-01-19")
    expect(study).not_to_contain_text("20040119")
    expect(tab.locator(".dicom-patient h2")).to_contain_text(
        "WANG XIUYING · HC-0001 · O · 1962-03-15"
    )


def test_send_button_says_why_it_cannot_send_until_a_study_is_ticked(
    tab: Page, consult_id: int
) -> None:
    page = tab
    other = dicom_dataset("CT_small.dcm")
    other.PatientID, other.PatientName = "HC-9999", "LI^SI"  # neither the ID nor the name
    other.StudyInstanceUID, other.SeriesInstanceUID = generate_uid(), generate_uid()
    other.SOPInstanceUID = other.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    send, hint = page.locator("#dicom-send"), page.locator("#dicom-send-hint")

    page.goto(f"/consults/{consult_id}/images/upload/")

    expect(send).to_be_disabled()
    expect(hint).to_have_text("请先选择文件夹或文件。")
    expect(send).to_have_attribute("aria-describedby", "dicom-send-hint")

    page.locator("#dicom-files").set_input_files(
        [FilePayload(name="IM0001", mimeType="", buffer=dataset_bytes(other))]
    )

    # Another patient's study is left unticked: nothing to send, and the page says so.
    include = page.locator("article.dicom-study input[type=checkbox]")
    expect(page.locator(".dicom-mismatch")).to_be_visible()
    expect(include).not_to_be_checked()
    expect(send).to_be_disabled()
    expect(hint).to_have_text("未勾选任何检查：请在要发送的检查上勾选“发送此检查”。")  # noqa: RUF001

    include.check()

    expect(send).to_be_enabled()
    expect(hint).to_be_hidden()

    include.uncheck()

    expect(send).to_be_disabled()
    expect(hint).to_be_visible()

    include.check()
    send.click()

    expect(page.locator("article.dicom-study .dicom-study-note")).to_have_text("已附加到会诊")
    expect(send).to_be_disabled()
    assert _database(lambda: ConsultStudy.objects.filter(consult_id=consult_id).count()) == 1
