"""A live session starts only inside its join window; the consult page says when, and where."""

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from consult.errors import SessionNotOpen
from consult.models import ConsultEvent, ConsultRequest, Mode, Status
from consult.services import consult_schedule, consult_start_session
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name below

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 8, 9, 0, tzinfo=SHANGHAI)


def _scheduled(world: World, starts_in: timedelta) -> ConsultRequest:
    return make_consult(world, Status.SCHEDULED, mode=Mode.LIVE, scheduled_start=NOW + starts_in)


def _start(world: World, consult: ConsultRequest) -> ConsultRequest:
    with time_machine.travel(NOW, tick=False):
        return consult_start_session(consult_id=consult.pk, actor_user=world.specialist)


# --- Service ------------------------------------------------------------------------------------


def test_a_session_cannot_be_started_a_day_early(world: World) -> None:
    consult = _scheduled(world, timedelta(days=1))

    with pytest.raises(SessionNotOpen) as refused:
        _start(world, consult)

    assert refused.value.field == "session"
    assert "2026-12-09 08:45" in refused.value.message
    consult.refresh_from_db()
    assert consult.status == Status.SCHEDULED
    assert not ConsultEvent.objects.filter(consult=consult).exists()


@pytest.mark.parametrize(
    "starts_in",
    [timedelta(minutes=15), timedelta(minutes=5), timedelta(0), timedelta(minutes=-60)],
    ids=["window-opens", "just-before", "on-time", "end-of-slot"],
)
def test_a_session_starts_inside_its_join_window(world: World, starts_in: timedelta) -> None:
    consult = _scheduled(world, starts_in)

    started = _start(world, consult)

    assert started.status == Status.IN_SESSION


@pytest.mark.parametrize(
    "starts_in", [timedelta(minutes=16), timedelta(minutes=-61)], ids=["early", "late"]
)
def test_a_session_is_refused_outside_its_join_window(world: World, starts_in: timedelta) -> None:
    consult = _scheduled(world, starts_in)

    with pytest.raises(SessionNotOpen):
        _start(world, consult)


def test_the_join_window_comes_from_the_settings(world: World, settings: Any) -> None:
    settings.CONSULT_JOIN_WINDOW_MINUTES = 30
    settings.CONSULT_SESSION_MINUTES = 90
    early = _scheduled(world, timedelta(minutes=25))
    late = _scheduled(world, timedelta(minutes=-85))

    assert _start(world, early).status == Status.IN_SESSION
    assert _start(world, late).status == Status.IN_SESSION


def test_a_missed_slot_is_moved_to_a_new_time_and_then_started(world: World) -> None:
    consult = _scheduled(world, timedelta(hours=-3))
    with pytest.raises(SessionNotOpen) as refused:
        _start(world, consult)
    assert "2026-12-08 07:00" in refused.value.message

    with time_machine.travel(NOW, tick=False):
        consult_schedule(
            consult_id=consult.pk,
            actor_user=world.specialist,
            starts_at=NOW + timedelta(minutes=10),
        )

    assert _start(world, consult).status == Status.IN_SESSION
    moves = list(ConsultEvent.objects.filter(consult=consult).values_list("to_status", flat=True))
    assert moves == [Status.SCHEDULED, Status.IN_SESSION]


# --- Page ---------------------------------------------------------------------------------------


def _page(client: Client, world: World) -> Client:
    client.force_login(world.specialist)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.mark.usefixtures("built_assets")
def test_the_page_disables_start_until_the_window_opens_and_says_where_it_is_held(
    client: Client, world: World
) -> None:
    consult = _scheduled(world, timedelta(days=1))
    detail = reverse("consults:detail", kwargs={"consult_id": consult.pk})
    start = reverse("consults:act", kwargs={"consult_id": consult.pk, "action": "start_session"})

    with time_machine.travel(NOW, tick=False):
        page = _page(client, world).get(detail).content.decode()
        refused = client.post(start, follow=True).content.decode()

    assert "hold the session by phone or on the consortium's video system" in page
    assert 'type="button" disabled' in page
    assert "Can be started from 2026-12-09 08:45" in page
    assert f'action="{start}"' not in page
    assert "not earlier" in refused
    consult.refresh_from_db()
    assert consult.status == Status.SCHEDULED


@pytest.mark.usefixtures("built_assets")
def test_the_page_offers_start_inside_the_window(client: Client, world: World) -> None:
    consult = _scheduled(world, timedelta(minutes=10))
    start = reverse("consults:act", kwargs={"consult_id": consult.pk, "action": "start_session"})

    with time_machine.travel(NOW, tick=False):
        page = _page(client, world).get(
            reverse("consults:detail", kwargs={"consult_id": consult.pk})
        )

    assert f'action="{start}"' in page.content.decode()


@pytest.mark.usefixtures("built_assets")
def test_the_page_says_a_missed_slot_must_be_moved(client: Client, world: World) -> None:
    consult = _scheduled(world, timedelta(hours=-2))

    with time_machine.travel(NOW, tick=False):
        page = _page(client, world).get(
            reverse("consults:detail", kwargs={"consult_id": consult.pk})
        )

    text = page.content.decode()
    assert "ended at 2026-12-08 08:00: move it to a new time." in text
    assert "Move the session to another time" in text


def test_an_offline_consult_does_not_speak_of_video(client: Client, world: World) -> None:
    consult = make_consult(world, Status.UNDER_REVIEW)

    page = _page(client, world).get(reverse("consults:detail", kwargs={"consult_id": consult.pk}))

    assert 'data-testid="held-outside"' not in page.content.decode()


def test_a_session_without_a_time_says_to_schedule_it(client: Client, world: World) -> None:
    consult = make_consult(world, Status.SCHEDULED, mode=Mode.LIVE, scheduled_start=None)

    with pytest.raises(SessionNotOpen):
        consult_start_session(consult_id=consult.pk, actor_user=world.specialist)
    page = _page(client, world).get(reverse("consults:detail", kwargs={"consult_id": consult.pk}))

    assert "Schedule the session before starting it." in page.content.decode()
