"""The duty switch, end to end through the API."""

from typing import Any

from django.test import Client

from consult.models import SpecialistDuty
from tests.conftest import World
from tests.consult.conftest import practitioner_of
from tests.factories import PASSWORD

DUTY_URL = "/api/v1/consults/duty/"


def _client(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def _put_duty(client: Client, body: dict[str, Any]) -> Any:
    return client.put(DUTY_URL, body, content_type="application/json")


def test_specialist_goes_on_and_off_duty(world: World) -> None:
    specialist = _client("specialist")
    practitioner = practitioner_of(world.specialist)
    on = _put_duty(specialist, {"on_duty": True})
    assert (on.status_code, on.json()) == (200, {"on_duty": True})
    assert SpecialistDuty.objects.get(practitioner=practitioner).on_duty is True
    off = _put_duty(specialist, {"on_duty": False})
    assert (off.status_code, off.json()) == (200, {"on_duty": False})
    assert SpecialistDuty.objects.get(practitioner=practitioner).on_duty is False


def test_only_specialists_go_on_duty(world: World) -> None:
    response = _put_duty(_client("clinic"), {"on_duty": True})
    assert response.status_code == 403
    assert not SpecialistDuty.objects.exists()


def test_duty_needs_a_sign_in(world: World) -> None:
    assert _put_duty(Client(), {"on_duty": True}).status_code in (401, 403)
    assert not SpecialistDuty.objects.exists()


def test_duty_without_a_boolean_is_a_400_naming_the_field(world: World) -> None:
    response = _put_duty(_client("specialist"), {"on_duty": "maybe"})
    assert (response.status_code, list(response.json())) == (400, ["on_duty"])
