"""Every place that checks a password counts against the one sign-in lock-out (issue 15, item 6).

A signed-in session is not a licence to guess: a wrong password when signing an opinion or
changing the password counts like a failed sign-in, and a locked account is refused there too.
"""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from consult.errors import PasswordMismatch
from consult.models import OpinionVersion, Status
from consult.services import consult_start_review, opinion_draft_save, opinion_sign
from consult.services.opinions import OpinionSections
from server.accounts.errors import AccountLocked
from server.accounts.models import User
from server.audit.models import AuditEvent, AuditOutcome
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.factories import PASSWORD

LOCKED = "locked until"
SECTIONS = OpinionSections(
    findings="右下肺片状影",
    impression="社区获得性肺炎",
    recommendations="抗感染",
    referral_advised=False,
    follow_up_advice="",
)


def _ready_to_sign(world: World) -> int:
    consult = make_consult(world, Status.ACCEPTED)
    consult_start_review(consult_id=consult.pk, actor_user=world.specialist)
    opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=SECTIONS)
    return consult.pk


def _signed_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _sign_in(password: str, username: str = "specialist") -> str:
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        "/accounts/login/", {"username": username, "password": password}
    )
    return "signed in" if response.status_code == 302 else response.content.decode()


def _sign_opinion(client: Client, consult_id: int, password: str) -> tuple[int, str]:
    response = client.post(
        f"/api/v1/consults/{consult_id}/opinion/sign/",
        {"password": password},
        content_type="application/json",
    )
    return response.status_code, response.content.decode()


def _change_password(client: Client, old: str) -> tuple[int, str]:
    new = "Lantern-river-2026!"
    response = client.post(
        "/accounts/password/", {"old_password": old, "new_password1": new, "new_password2": new}
    )
    return response.status_code, response.content.decode()


def test_wrong_passwords_at_sign_in_signing_and_password_change_lock_the_account(
    world: World,
) -> None:
    assert settings.LOGIN_FAILURE_LIMIT == 5
    consult_id = _ready_to_sign(world)
    specialist = _signed_in(world.specialist)

    assert LOCKED not in _sign_in("wrong-1")
    assert LOCKED not in _sign_in("wrong-2")
    assert _sign_opinion(specialist, consult_id, "wrong-3")[0] == 400
    assert _sign_opinion(specialist, consult_id, "wrong-4")[0] == 400
    status, page = _change_password(specialist, "wrong-5")

    assert (status, LOCKED in page) == (200, True)
    # Locked now: the right password opens none of the three doors.
    assert LOCKED in _sign_in(PASSWORD)
    status, body = _sign_opinion(specialist, consult_id, PASSWORD)
    assert (status, LOCKED in body) == (403, True)
    status, page = _change_password(specialist, PASSWORD)
    assert (status, LOCKED in page) == (200, True)
    world.specialist.refresh_from_db()
    assert world.specialist.check_password(PASSWORD)
    assert not OpinionVersion.objects.filter(signed_at__isnull=False).exists()


def test_guessing_at_signing_alone_locks_the_account(world: World) -> None:
    consult_id = _ready_to_sign(world)
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        with pytest.raises(PasswordMismatch):
            opinion_sign(consult_id=consult_id, actor_user=world.specialist, password="wrong")

    with pytest.raises(AccountLocked):
        opinion_sign(consult_id=consult_id, actor_user=world.specialist, password="wrong")

    with pytest.raises(AccountLocked):
        opinion_sign(consult_id=consult_id, actor_user=world.specialist, password=PASSWORD)
    assert LOCKED in _sign_in(PASSWORD)


def test_guessing_at_password_change_alone_locks_the_account(world: World) -> None:
    client = _signed_in(world.clinic_doctor)
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        status, page = _change_password(client, "wrong")
        assert (status, LOCKED in page) == (200, False)

    status, page = _change_password(client, "wrong")

    assert (status, LOCKED in page) == (200, True)
    assert LOCKED in _sign_in(PASSWORD, username="clinic")


def test_a_locked_account_cannot_sign_on_the_page_and_is_told_why(world: World) -> None:
    consult_id = _ready_to_sign(world)
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _sign_in("wrong")

    response = _signed_in(world.specialist).post(
        reverse("consults:opinion_sign", kwargs={"consult_id": consult_id}), {"password": PASSWORD}
    )

    assert response.status_code == 200
    assert LOCKED in response.content.decode()
    assert not OpinionVersion.objects.filter(signed_at__isnull=False).exists()


def test_wrong_passwords_of_a_signed_in_user_are_audited_as_denied(world: World) -> None:
    consult_id = _ready_to_sign(world)
    _sign_opinion(_signed_in(world.specialist), consult_id, "wrong")

    event = AuditEvent.objects.get(event="user.password_confirm")

    assert (event.outcome, event.actor_id) == (AuditOutcome.DENIED, world.specialist.pk)
    assert event.detail == {"locked": False}


def test_guessing_at_the_admin_sign_in_locks_the_account(world: World) -> None:
    User.objects.create_superuser("root", password=PASSWORD)
    admin = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        admin.post("/admin/login/", {"username": "root", "password": "wrong"})

    response = admin.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})

    assert response.status_code == 200
    assert LOCKED in response.content.decode()
    assert LOCKED in _sign_in(PASSWORD, username="root")


def test_the_admin_password_change_is_the_counted_one(world: World) -> None:
    root = User.objects.create_superuser("root", password=PASSWORD)

    response = _signed_in(root).get("/admin/password_change/")

    assert (response.status_code, response["Location"]) == (302, "/accounts/password/")
