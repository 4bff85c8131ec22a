"""Sign-in lock-out, hashed API tokens and signing out everywhere."""

import hashlib
from datetime import timedelta

import time_machine
from django.test import Client
from django.utils import timezone

from server.accounts.models import ApiToken, User
from server.accounts.services import api_token_create, user_logout_everywhere
from server.audit.models import AuditEvent, AuditOutcome
from tests.conftest import World
from tests.factories import PASSWORD


def _sign_in(client: Client, password: str) -> int:
    response = client.post("/accounts/login/", {"username": "clinic", "password": password})
    return response.status_code


def test_sign_in_with_the_right_password_reaches_home(world: World) -> None:
    client = Client()
    response = client.post("/accounts/login/", {"username": "clinic", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    world: World, settings: object
) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(4):
        assert _sign_in(client, "wrong-password") == 200
    response = client.post("/accounts/login/", {"username": "clinic", "password": "wrong"})
    assert "locked until" in response.content.decode()
    response = client.post("/accounts/login/", {"username": "clinic", "password": PASSWORD})
    assert response.status_code == 200
    assert "locked until" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lock_out_ends_after_its_window(world: World) -> None:
    client = Client()
    for _ in range(5):
        _sign_in(client, "wrong-password")
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert _sign_in(client, PASSWORD) == 302


def test_lock_out_message_is_in_chinese_by_default(world: World) -> None:
    client = Client()
    for _ in range(5):
        _sign_in(client, "wrong-password")
    response = client.post("/accounts/login/", {"username": "clinic", "password": PASSWORD})
    assert "锁定" in response.content.decode()


def test_api_token_is_stored_only_as_its_hash_and_authenticates(world: World) -> None:
    token, raw = api_token_create(user=world.clinic_doctor, name="gateway")
    assert raw.startswith("yz_")
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {stored.key_hash, stored.prefix, stored.name}
    response = Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert response.json()["institution_id"] == world.township.pk


def test_unknown_or_expired_token_is_refused_with_a_reason(world: World) -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get(
        "/api/v1/me/", HTTP_AUTHORIZATION="Bearer yz_not-a-token"
    )
    assert response.status_code == 401
    assert "token" in response.json()["detail"].lower()
    _, raw = api_token_create(
        user=world.clinic_doctor, name="old", expires_at=timezone.now() - timedelta(days=1)
    )
    assert Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_api_without_credentials_is_refused(world: World) -> None:
    assert Client().get("/api/v1/patients/").status_code == 401


def test_sign_out_everywhere_ends_every_session_and_revokes_tokens(world: World) -> None:
    laptop, phone = Client(), Client()
    laptop.login(username="clinic", password=PASSWORD)
    phone.login(username="clinic", password=PASSWORD)
    _, raw = api_token_create(user=world.clinic_doctor, name="script")
    assert phone.get("/api/v1/me/").status_code == 200

    response = laptop.post("/accounts/logout-everywhere/")
    assert response.status_code == 302

    assert phone.get("/api/v1/me/").status_code == 401
    assert laptop.get("/").status_code == 302
    assert Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_sign_out_everywhere_service_leaves_other_users_signed_in(world: World) -> None:
    other = Client()
    other.login(username="specialist", password=PASSWORD)
    user_logout_everywhere(user=world.clinic_doctor)
    assert other.get("/api/v1/me/").status_code == 200


def test_password_change_enforces_the_validators(world: World) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.login(username="clinic", password=PASSWORD)
    weak = {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"}
    response = client.post("/accounts/password/", weak)
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    strong = "Lantern-river-2026!"
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": strong, "new_password2": strong},
    )
    assert response.status_code == 302
    world.clinic_doctor.refresh_from_db()
    assert world.clinic_doctor.check_password(strong)
    assert client.get("/").status_code == 200


def test_sign_ins_and_refusals_are_audited(world: World) -> None:
    client = Client()
    _sign_in(client, "wrong-password")
    _sign_in(client, PASSWORD)
    events = list(AuditEvent.objects.filter(event="user.login").order_by("seq"))
    assert [(e.outcome, e.actor_id) for e in events] == [
        (AuditOutcome.DENIED, None),
        (AuditOutcome.SUCCESS, world.clinic_doctor.pk),
    ]
    assert events[0].detail == {"username": "clinic", "locked": False}


def test_locked_out_attempts_are_audited_as_denied(world: World) -> None:
    client = Client()
    for _ in range(6):
        _sign_in(client, "wrong-password")
    last = AuditEvent.objects.filter(event="user.login").order_by("-seq").first()
    assert last is not None
    assert (last.outcome, last.detail["locked"]) == (AuditOutcome.DENIED, True)


def test_a_token_of_a_deactivated_user_is_refused(world: World) -> None:
    _, raw = api_token_create(user=world.clinic_doctor, name="script")
    User.objects.filter(pk=world.clinic_doctor.pk).update(is_active=False)
    assert Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
