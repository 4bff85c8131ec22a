"""The consult request form: the choices it offers, the consent it marks, whom it names."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from consult.models import ConsultRequest
from server.directory.models import Specialty
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult, practitioner_of
from tests.consult.test_pages import _request_form, _signed_in
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name below

pytestmark = pytest.mark.usefixtures("built_assets")


def _select(html: str, name: str) -> str:
    found = re.search(rf'<select name="{name}".*?</select>', html, re.DOTALL)
    assert found is not None, name
    return found.group(0)


def test_the_form_asks_only_for_clinical_specialties_and_titles(
    client: Client, world: World
) -> None:
    html = _signed_in(client, world.clinic_doctor).get(reverse("consults:new")).content.decode()

    specialties = _select(html, "wanted_specialty")
    titles = _select(html, "minimum_title")
    assert 'value="radiology"' in specialties
    assert 'value="administration"' not in specialties
    assert 'value="attending"' in titles
    assert 'value="none"' not in titles


def test_the_form_refuses_administration_as_the_specialty_asked_for(
    client: Client, world: World
) -> None:
    response = _signed_in(client, world.clinic_doctor).post(
        reverse("consults:new"), _request_form(world, wanted_specialty="administration")
    )

    assert response.status_code == 200
    assert "wanted_specialty" in response.context["form"].errors
    assert not ConsultRequest.objects.exists()


def test_specialists_carry_their_specialty_for_the_page_to_filter_by(
    client: Client, world: World
) -> None:
    cardiologist = add_specialist(world, "cardio", specialty=Specialty.CARDIOLOGY)

    html = _signed_in(client, world.clinic_doctor).get(reverse("consults:new")).content.decode()

    specialists = _select(html, "target_practitioner")
    radiologist = practitioner_of(world.specialist).pk
    assert 'data-specialty="cardiology"' in _option(specialists, cardiologist.pk)
    assert 'data-specialty="radiology"' in _option(specialists, radiologist)


def _option(select: str, value: int) -> str:
    found = re.search(rf'<option value="{value}"[^>]*>', select)
    assert found is not None, value
    return found.group(0)


def test_a_specialist_of_another_specialty_is_refused_in_words(
    client: Client, world: World
) -> None:
    response = _signed_in(client, world.clinic_doctor).post(
        reverse("consults:new"), _request_form(world, wanted_specialty="cardiology")
    )

    assert response.status_code == 200
    assert response.context["form"].errors["target_practitioner"] == [
        "This specialist does not practise the specialty asked for: choose one who does, or "
        "send the request to the consult centre."
    ]
    assert not ConsultRequest.objects.exists()


def test_consent_is_marked_required_in_the_html(client: Client, world: World) -> None:
    html = _signed_in(client, world.clinic_doctor).get(reverse("consults:new")).content.decode()

    for name in ("consent_signer", "consent_relation", "consent_method"):
        tag = re.search(rf'<(input|select)[^>]*name="{name}"[^>]*>', html)
        assert tag is not None, name
        assert " required" in tag.group(0), name
        label = re.search(rf'<label for="id_{name}">.*?</label>', html, re.DOTALL)
        assert label is not None, name
        assert "required-mark" in label.group(0), name


def test_a_draft_names_the_specialist_it_is_sent_to(client: Client, world: World) -> None:
    consult = make_consult(world)
    specialist = practitioner_of(world.specialist)

    response = _signed_in(client, world.clinic_doctor).get(
        reverse("consults:detail", kwargs={"consult_id": consult.pk})
    )

    send_to = re.search(r'data-testid="send-to">(.*?)</dd>', response.content.decode())
    assert send_to is not None
    assert specialist.display_name in send_to.group(1)
    assert specialist.institution.name in send_to.group(1)


@pytest.mark.parametrize(
    ("field", "value"), [("wanted_specialty", "administration"), ("minimum_title", "none")]
)
def test_the_api_refuses_administration_and_no_clinical_title_as_asks(
    client: Client, world: World, field: str, value: str
) -> None:
    body: dict[str, object] = {
        **_request_form(world),
        "patient_id": world.patient.pk,
        "target_practitioner_id": practitioner_of(world.specialist).pk,
        field: value,
    }
    del body["patient"], body["target_practitioner"]
    client.force_login(world.clinic_doctor)

    response = client.post("/api/v1/consults/", body, content_type="application/json")

    assert (response.status_code, list(response.json())) == (400, [field])
    assert not ConsultRequest.objects.exists()
