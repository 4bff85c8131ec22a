"""The consult's image upload page: who may open it, and what it gives the browser."""

import pytest
from django.test import Client

from consult.models import Status
from server.accounts.models import User
from tests.conftest import World
from tests.consult.conftest import make_consult


def _signed_in(user: User) -> Client:
    client = Client(headers={"accept-language": "zh-hans"})
    client.force_login(user)
    return client


def _page(world: World, user: User, status: Status = Status.ACCEPTED) -> tuple[int, str]:
    world.patient.health_card_number = "HC-0001"
    world.patient.save(update_fields=["health_card_number"])
    consult = make_consult(world, status)
    response = _signed_in(user).get(f"/consults/{consult.pk}/images/upload/")
    return response.status_code, response.content.decode()


def test_upload_page_shows_the_requester_the_consults_patient_and_endpoints(
    world: World,
) -> None:
    code, html = _page(world, world.clinic_doctor)
    assert code == 200
    assert "患者 王秀英，健康卡号 HC-0001" in html  # noqa: RUF001 - the page's fullwidth comma
    assert 'data-endpoint="/api/v1/imaging/uploads/"' in html
    assert 'data-patient-id="HC-0001"' in html
    assert "webkitdirectory" in html


def test_upload_page_is_open_to_the_invited_specialist(world: World) -> None:
    assert _page(world, world.specialist)[0] == 200


def test_upload_page_is_hidden_from_doctors_outside_the_consult(world: World) -> None:
    assert _page(world, world.other_clinic_doctor)[0] == 404


@pytest.mark.parametrize("status", [Status.CLOSED, Status.CANCELLED])
def test_upload_page_is_refused_once_the_consult_is_over(world: World, status: Status) -> None:
    assert _page(world, world.clinic_doctor, status)[0] == 403
