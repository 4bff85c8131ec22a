"""The whole consult path in headless Chromium: real daphne, Redis channel layer, Celery worker."""

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Browser, FilePayload, Page, expect, sync_playwright

from consult.models import (
    ConsultEvent,
    ConsultRequest,
    Disposition,
    Escalation,
    OpinionVersion,
    Status,
    Urgency,
)
from consult.services import opinion_version_intact
from consult.tasks import consult_deadlines_sweep_task
from tests.conftest import World
from tests.consult.conftest import make_consult, practitioner_of
from tests.factories import PASSWORD
from tests.integration import test_celery_worker
from tests.integration.test_celery_worker import WAIT_SECONDS, WorkerFactory
from tests.lib.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    csp_violations,
    screenshots_if_failed,
    watch_csp,
)
from tests.lib.daphne import daphne_server
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name

# Committed data is what the daphne and worker processes see, so these tests commit for real.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

EXPECT_TIMEOUT_MS = 10_000
HOME_URL = re.compile(r"^http://127\.0\.0\.1:\d+/$")
DETAIL_URL = re.compile(r"/consults/(\d+)/$")
# The smallest PNG: one transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)
OPINION_LABEL = "会诊意见（供参考）"  # noqa: RUF001 - the label's fullwidth brackets

T = TypeVar("T")

# The real Celery worker of the integration tests, on a queue of each test's own.
celery_on_redis = test_celery_worker.celery_on_redis
start_worker = test_celery_worker.start_worker


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with daphne_server(log_path) as url:
        yield url


@pytest.fixture
def browser(server: str, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Headless Chromium; every open tab is screenshotted into test-artifacts/ on failure."""
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
    """A new browser context (its own session), set to Chinese, signed in as `username`."""
    context = browser.new_context(locale="zh-CN", base_url=server)
    watch_csp(context)
    tab = context.new_page()
    tab.set_default_timeout(EXPECT_TIMEOUT_MS)
    tab.goto("/")
    tab.locator("#id_username").fill(username)
    tab.locator("#id_password").fill(PASSWORD)
    tab.locator("form.form button[type=submit]").click()
    expect(tab).to_have_url(HOME_URL)
    return tab


def _in_thread(call: Callable[[], T]) -> T:
    # Playwright's sync API keeps an event loop running on this thread, and Django refuses
    # ORM calls from a thread with a running loop, so reads run on a plain thread.
    def run() -> T:
        try:
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=WAIT_SECONDS)


def _click_action(tab: Page, action: str) -> None:
    tab.locator(f"form[action$='/act/{action}/'] button[type=submit]").click()
    expect(tab.locator(".message--success")).to_be_visible()


def _create_and_submit(doctor: Page, world: World, specialist_id: int) -> int:
    doctor.goto("/consults/new/")
    doctor.locator("#id_patient").select_option(str(world.patient.pk))
    doctor.locator("#id_mode").select_option("offline")
    doctor.locator("#id_urgency").select_option("urgent")
    doctor.locator("#id_reason").fill("反复胸痛两周，伴低热")  # noqa: RUF001 - Chinese comma
    doctor.locator("#id_purpose").fill("明确诊断并给出治疗建议")
    doctor.locator("#id_clinical_summary").fill("男，62岁。胸片示右下肺斑片影。")  # noqa: RUF001
    doctor.locator("#id_wanted_specialty").select_option("radiology")
    doctor.locator("#id_target_kind").select_option("specialist")
    doctor.locator("#id_target_practitioner").select_option(str(specialist_id))
    doctor.locator("#id_consent_signer").fill("王秀英")
    doctor.locator("#id_consent_relation").select_option("self")
    doctor.locator("#id_consent_method").select_option("electronic")
    doctor.locator("form.consult-form button[type=submit]").click()
    expect(doctor).to_have_url(DETAIL_URL)
    match = DETAIL_URL.search(doctor.url)
    assert match is not None
    consult_id = int(match.group(1))

    # A file of the wrong type is refused with a message naming it; a photo uploads.
    doctor.locator("#upload-kind").select_option("photo")
    doctor.locator("#upload-files").set_input_files(
        [FilePayload(name="ecg.gif", mimeType="image/gif", buffer=b"GIF89a")]
    )
    doctor.locator("#upload button[type=submit]").click()
    refused = doctor.locator(".upload-item--error")
    expect(refused).to_contain_text("ecg.gif")
    expect(refused).to_contain_text("不是允许的文件类型")
    doctor.locator("#upload-files").set_input_files(
        [FilePayload(name="rash.png", mimeType="image/png", buffer=PNG)]
    )
    doctor.locator("#upload button[type=submit]").click()
    expect(doctor.locator(".attachment-list li")).to_have_count(1)

    _click_action(doctor, "submit")
    expect(doctor.locator(".timeline li[data-to=assigned]")).to_be_visible()
    return consult_id


@pytest.fixture
def specialist_id(world: World) -> int:
    return practitioner_of(world.specialist).pk


def test_consult_from_request_to_acknowledged_opinion(
    world: World,
    specialist_id: int,
    start_worker: WorkerFactory,
    server: str,
    browser: Browser,
) -> None:
    worker = start_worker()
    specialist = _tab(browser, server, "specialist")
    specialist.goto("/consults/?list=incoming")
    expect(specialist.locator("#worklist .empty")).to_be_visible()
    expect(specialist.locator("html")).to_have_attribute("data-live", "connected")
    specialist.evaluate("window.yunzhenNotReloaded = true")
    doctor = _tab(browser, server, "clinic")

    consult_id = _create_and_submit(doctor, world, specialist_id)

    # The invitation appears on the specialist's open worklist without a reload.
    row = specialist.locator(f"#worklist tr[data-consult-id='{consult_id}']")
    expect(row).to_contain_text(world.patient.name)
    assert specialist.evaluate("window.yunzhenNotReloaded") is True
    row.get_by_role("link").click()
    expect(specialist).to_have_url(re.compile(rf"/consults/{consult_id}/$"))
    # A doctor in the middle of choosing a file is not interrupted: the page says it changed.
    chosen = doctor.locator("#upload input[type=file]")
    chosen.set_input_files([FilePayload(name="ecg.png", mimeType="image/png", buffer=PNG)])
    _click_action(specialist, "accept")
    expect(doctor.locator("#consult-changed")).to_be_visible()
    assert chosen.evaluate("input => input.files.length") == 1
    doctor.reload()
    _click_action(specialist, "start_review")

    specialist.locator(f"a[href='/consults/{consult_id}/opinion/edit/']").first.click()
    specialist.locator("#id_findings").fill("右下肺斑片状高密度影")
    specialist.locator("#id_impression").fill("右下肺炎")
    specialist.locator("#id_recommendations").fill("经验性抗感染治疗")
    specialist.locator("#id_follow_up_advice").fill("两周后复查胸片")
    specialist.locator("section[aria-labelledby=draft-title] button[type=submit]").click()
    expect(specialist.locator(".message--success")).to_be_visible()
    specialist.locator("#id_password").fill(PASSWORD)
    specialist.locator("section[aria-labelledby=sign-title] button[type=submit]").click()
    expect(specialist).to_have_url(re.compile(rf"/consults/{consult_id}/opinion/$"))
    expect(specialist.get_by_role("heading", level=1)).to_have_text(OPINION_LABEL)
    expect(specialist.locator("[data-testid=sha256]")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(specialist.locator("#opinion-pdf")).to_have_attribute(
        "href", f"/api/v1/consults/{consult_id}/opinion/pdf/"
    )

    # The doctor's open consult page brings itself up to date: the signed opinion is there.
    signed_link = doctor.locator(f"a.button[href='/consults/{consult_id}/opinion/']")
    expect(signed_link).to_be_visible()
    expect(doctor.locator("#consult-changed")).to_be_hidden()
    signed_link.click()
    expect(doctor.get_by_role("heading", level=1)).to_have_text(OPINION_LABEL)
    expect(doctor.locator(".opinion")).to_contain_text("右下肺炎")
    doctor.locator("input[name=disposition][value=adopted]").check()
    doctor.locator("#id_next_steps").fill("门诊抗感染治疗，两周后复查")  # noqa: RUF001
    doctor.locator("section[aria-labelledby=ack-title] button[type=submit]").click()
    expect(doctor.locator(".message--success")).to_be_visible()
    expect(doctor.locator("[data-testid=consult-status]")).to_have_text("已关闭")

    # The beat sweep, run by the real worker, finds nothing to escalate in a closed consult.
    result = consult_deadlines_sweep_task.apply_async(queue=start_worker.queue)
    assert result.get(timeout=WAIT_SECONDS) == 0
    worker.stop()

    def final_state() -> tuple[ConsultRequest, list[str], OpinionVersion, bool, list[str]]:
        consult = ConsultRequest.objects.get(pk=consult_id)
        attachments = list(consult.attachments.values_list("content_type", flat=True))
        moves = list(
            ConsultEvent.objects.filter(consult=consult).values_list("to_status", flat=True)
        )
        version = OpinionVersion.objects.select_related("opinion").get(opinion__consult=consult)
        return consult, moves, version, opinion_version_intact(version), attachments

    consult, moves, version, intact, attachments = _in_thread(final_state)
    assert (consult.status, consult.disposition) == (Status.CLOSED, Disposition.ADOPTED)
    assert attachments == ["image/png"]
    assert moves == [
        Status.SUBMITTED,
        Status.ASSIGNED,
        Status.ACCEPTED,
        Status.UNDER_REVIEW,
        Status.OPINION_SIGNED,
        Status.CLOSED,
    ]
    assert (version.number, version.signed_by_id, intact) == (1, specialist_id, True)


@pytest.fixture
def overdue_consult(world: World) -> ConsultRequest:
    """An urgent consult submitted three hours ago and never accepted (the limit is two)."""
    consult = make_consult(world, Status.ASSIGNED, urgency=Urgency.URGENT)
    long_ago = timezone.now() - timedelta(hours=3)
    ConsultEvent.objects.create(
        consult=consult, from_status=Status.DRAFT, to_status=Status.SUBMITTED, at=long_ago
    )
    ConsultEvent.objects.create(
        consult=consult, from_status=Status.SUBMITTED, to_status=Status.ASSIGNED, at=long_ago
    )
    return consult


def test_overdue_board_shows_escalation_from_celery_sweep_live(
    world: World,
    overdue_consult: ConsultRequest,
    start_worker: WorkerFactory,
    server: str,
    browser: Browser,
) -> None:
    start_worker()
    coordinator = _tab(browser, server, "coordinator")
    coordinator.goto("/consults/?list=overdue")
    expect(coordinator.locator("#worklist .empty")).to_be_visible()
    expect(coordinator.locator("html")).to_have_attribute("data-live", "connected")

    result = consult_deadlines_sweep_task.apply_async(queue=start_worker.queue)

    assert result.get(timeout=WAIT_SECONDS) == 1
    row = coordinator.locator(f"#worklist tr[data-consult-id='{overdue_consult.pk}']")
    expect(row).to_contain_text(world.patient.name)
    deadlines = _in_thread(lambda: list(Escalation.objects.values_list("consult_id", "deadline")))
    assert deadlines == [(overdue_consult.pk, "accept")]


def test_unrelated_township_doctor_gets_404_for_the_consult(
    world: World, consult: ConsultRequest, server: str, browser: Browser
) -> None:
    stranger = _tab(browser, server, "other_clinic")

    response = stranger.goto(f"/consults/{consult.pk}/")

    assert response is not None
    assert response.status == 404
    expect(stranger.locator("body")).not_to_contain_text(world.patient.name)
