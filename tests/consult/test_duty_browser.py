"""Consult-centre routing seen by the specialist in headless Chromium, against real daphne:
going on duty from the home page, then receiving a consult the centre routes."""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import World
from tests.consult import test_browser
from tests.consult.test_browser import HOME_URL, _tab
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name

# Committed data is what the daphne process sees, so these tests commit for real.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

DETAIL_URL = re.compile(r"/consults/(\d+)/$")

server = test_browser.server
browser = test_browser.browser


def _request_from_consult_centre(doctor: Page, world: World) -> int:
    doctor.goto("/consults/new/")
    doctor.locator("#id_patient").select_option(str(world.patient.pk))
    doctor.locator("#id_mode").select_option("offline")
    doctor.locator("#id_urgency").select_option("urgent")
    doctor.locator("#id_reason").fill("反复胸痛两周")
    doctor.locator("#id_purpose").fill("明确诊断")
    doctor.locator("#id_clinical_summary").fill("胸片示右下肺斑片影。")
    doctor.locator("#id_wanted_specialty").select_option("radiology")
    doctor.locator("#id_target_kind").select_option("consult_centre")
    doctor.locator("#id_consent_signer").fill("王秀英")
    doctor.locator("#id_consent_relation").select_option("self")
    doctor.locator("#id_consent_method").select_option("electronic")
    doctor.locator("form.consult-form button[type=submit]").click()
    expect(doctor).to_have_url(DETAIL_URL)
    match = DETAIL_URL.search(doctor.url)
    assert match is not None
    doctor.locator("form[action$='/act/submit/'] button[type=submit]").click()
    expect(doctor.locator(".message--success")).to_be_visible()
    return int(match.group(1))


def test_specialist_goes_on_duty_and_gets_the_consult_centres_consult(
    world: World, server: str, browser: Browser
) -> None:
    specialist = _tab(browser, server, "specialist")
    duty = specialist.locator("section.duty")
    expect(duty).to_have_attribute("data-on-duty", "false")
    expect(duty).to_contain_text("您未在值班")
    pending = specialist.locator("section[aria-labelledby=pending-title]")
    expect(pending.locator(".empty")).to_contain_text("暂无待您处理的会诊")

    duty.get_by_role("button", name="开始值班").click()

    expect(specialist).to_have_url(HOME_URL)
    expect(specialist.locator(".message--success")).to_contain_text("您已开始值班")
    expect(duty).to_have_attribute("data-on-duty", "true")
    expect(specialist.get_by_test_id("duty-state")).to_contain_text(
        re.compile(r"您自 \d{4}-\d\d-\d\d \d\d:\d\d 起值班")
    )
    expect(duty.get_by_role("button", name="结束值班")).to_be_visible()

    doctor = _tab(browser, server, "clinic")
    consult_id = _request_from_consult_centre(doctor, world)
    expect(doctor.locator(".timeline li[data-to=assigned]")).to_be_visible()

    specialist.reload()
    row = pending.locator(f"tr[data-consult-id='{consult_id}']")
    expect(row).to_contain_text(world.patient.name)
    expect(row).to_contain_text("急")
    expect(row).to_contain_text(world.township.name)
    expect(row).to_contain_text(re.compile(r"请于 \d{4}-\d\d-\d\d \d\d:\d\d 前接受"))
    row.get_by_role("link", name=world.patient.name).click()
    expect(specialist).to_have_url(re.compile(rf"/consults/{consult_id}/$"))

    specialist.goto("/notifications/")
    subject = specialist.get_by_test_id("notification-subject").first
    expect(subject).to_contain_text(world.patient.name)
    expect(subject).to_contain_text("急")
    expect(subject).to_contain_text(world.township.name)
    expect(specialist.locator(".notification-list li").first).to_contain_text("会诊")
