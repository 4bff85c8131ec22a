"""The audit browser, the access report and audited page views, in headless Chromium."""

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from django.db import connections
from playwright.sync_api import Page, expect

from consult.models import ConsultRequest, Status
from server.audit.models import AuditAction, AuditEvent
from server.audit.services import audit_record
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.web import test_browser
from tests.web.test_browser import _sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

T = TypeVar("T")

# The daphne server and the Chinese tab of the web browser tests.
server = test_browser.server
page = test_browser.page


def _off_loop(query: Callable[[], T]) -> T:
    """Run an ORM read on a plain thread: Playwright's loop on this one forbids it."""

    def run() -> T:
        try:
            return query()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


@pytest.fixture
def consult(world: World) -> ConsultRequest:
    return make_consult(world, status=Status.SUBMITTED)


@pytest.fixture
def viewed(world: World) -> World:
    """The township doctor opened the patient's record and the specialist a consult."""
    for user, institution, event in (
        (world.clinic_doctor, world.township, "patient.view"),
        (world.specialist, world.county, "consult.list"),
    ):
        audit_record(
            user=user,
            action=AuditAction.READ,
            event=event,
            actor_institution_id=institution.pk,
            resource_type="Patient",
            resource_id=world.patient.pk,
            patient_id=world.patient.pk,
            patient_institution_id=world.township.pk,
        )
    return world


def test_worklist_page_view_writes_one_audit_event(
    world: World, consult: ConsultRequest, page: Page
) -> None:
    _sign_in(page, "clinic")
    page.goto("/consults/")
    expect(page.locator(f"#worklist tr[data-consult-id='{consult.pk}']")).to_be_visible()
    # The list refetches itself once the live socket connects; that is the same page view.
    expect(page.locator("html")).to_have_attribute("data-live", "connected")
    expect(page.locator("#worklist")).to_have_attribute("data-refreshed", "1")
    expect(page.locator(f"#worklist tr[data-consult-id='{consult.pk}']")).to_be_visible()

    listings = _off_loop(lambda: AuditEvent.objects.filter(event="consult.list").count())
    assert listings == 1


def test_admin_filters_the_audit_trail_by_event_and_reads_it_in_words(
    viewed: World, page: Page
) -> None:
    _sign_in(page, "admin")
    page.goto("/audit/")
    doctor = viewed.clinic_doctor.practitioner.display_name
    specialist = viewed.specialist.practitioner.display_name
    rows = page.locator(".audit-table tbody tr")
    expect(rows.filter(has_text=specialist)).to_have_count(1)

    page.get_by_label("事件").select_option(label="查看患者档案")
    page.get_by_role("button", name="筛选").click()

    expect(page).to_have_url(re.compile(r"event=patient\.view"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(doctor)
    expect(rows.first).to_contain_text("东乡卫生院")
    expect(rows.first).to_contain_text("查看患者档案")
    expect(rows.first).to_contain_text(f"患者 {viewed.patient.name}")
    expect(rows.filter(has_text=specialist)).to_have_count(0)


def test_admin_prints_who_accessed_a_patient_record(viewed: World, page: Page) -> None:
    _sign_in(page, "admin")
    page.goto(f"/patients/{viewed.patient.pk}/")
    page.get_by_role("link", name="档案访问记录").click()

    table = page.locator(".access-table")
    specialist_row = table.locator("tr", has_text=viewed.specialist.practitioner.display_name)
    expect(specialist_row).to_contain_text("县医院")
    expect(specialist_row).to_contain_text("专科医生")
    expect(specialist_row).to_contain_text("浏览会诊列表")

    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.get_by_role("button", name="打印")).to_be_hidden()
    expect(table).to_be_visible()
    expect(page.get_by_role("heading", name="档案访问记录")).to_be_visible()
