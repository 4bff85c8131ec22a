"""The consult request form in headless Chromium: specialists filtered, consent marked."""

import pytest
from playwright.sync_api import Browser, expect

from server.directory.models import Practitioner, Specialty
from tests.conftest import World
from tests.consult import test_browser
from tests.consult.conftest import add_specialist, practitioner_of
from tests.consult.test_browser import _tab
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("built_assets"),
]

# The daphne server and the Chromium of the consult path's browser tests.
server = test_browser.server
browser = test_browser.browser


@pytest.fixture
def specialists(world: World) -> tuple[Practitioner, Practitioner]:
    """The county's radiologist and a cardiologist, both attending physicians."""
    cardiologist = add_specialist(world, "cardio", specialty=Specialty.CARDIOLOGY)
    return practitioner_of(world.specialist), cardiologist


def test_the_specialist_list_follows_the_specialty_and_title_asked_for(
    specialists: tuple[Practitioner, Practitioner], server: str, browser: Browser
) -> None:
    radiologist, cardiologist = specialists
    doctor = _tab(browser, server, "clinic")
    doctor.goto("/consults/new/")
    choice = doctor.locator("#id_target_practitioner")
    radiology = choice.locator(f"option[value='{radiologist.pk}']")
    cardiology = choice.locator(f"option[value='{cardiologist.pk}']")

    doctor.locator("#id_wanted_specialty").select_option("radiology")
    choice.select_option(str(radiologist.pk))
    expect(cardiology).to_be_disabled()
    expect(radiology).to_be_enabled()

    doctor.locator("#id_wanted_specialty").select_option("cardiology")
    expect(radiology).to_be_disabled()
    expect(cardiology).to_be_enabled()
    # The radiologist chosen before no longer fits, so the choice is cleared, not kept hidden.
    expect(choice).to_have_value("")
    expect(doctor.locator("#no-specialist")).to_be_hidden()

    doctor.locator("#id_minimum_title").select_option("chief")
    expect(cardiology).to_be_disabled()
    expect(doctor.locator("#no-specialist")).to_be_visible()


def test_consent_is_marked_required_unless_waived(
    world: World, server: str, browser: Browser
) -> None:
    doctor = _tab(browser, server, "clinic")
    doctor.goto("/consults/new/")
    signer = doctor.locator("#id_consent_signer")
    signer_mark = doctor.locator("label[for=id_consent_signer] .required-mark")
    reason_mark = doctor.locator("label[for=id_waiver_reason] .required-mark")

    expect(signer).to_have_attribute("required", "")
    expect(signer_mark).to_be_visible()

    doctor.locator("#id_emergency_waiver").check()

    expect(signer_mark).to_be_hidden()
    expect(signer).not_to_have_attribute("required", "")
    expect(reason_mark).to_be_visible()
    expect(doctor.locator("#id_waiver_reason")).to_have_attribute("required", "")
