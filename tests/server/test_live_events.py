"""The live socket through the real ASGI stack (origin check, session auth) and Redis layer."""

import copy
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction

from server.accounts.models import User
from server.accounts.services import user_logout_everywhere
from server.asgi import application
from server.notifications.models import Notification, NotificationKind, NotificationSubject
from server.notifications.services import notification_send
from tests.factories import PractitionerFactory
from tests.lib.broker import refusing_redis_url, silent_redis_url
from tests.lib.sockets import ORIGIN, close_thread_connections, session_cookie

pytestmark = pytest.mark.usefixtures(close_thread_connections.__name__)
CaptureCallbacks = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


def test_tests_use_the_redis_channel_layer() -> None:
    assert (
        settings.CHANNEL_LAYERS["default"]["BACKEND"]
        == "channels_redis.pubsub.RedisPubSubChannelLayer"
    )


async def _connect_signed_in(cookie: bytes) -> WebsocketCommunicator:
    """Connect with a session and take the unread count every new socket starts with."""
    communicator, connected, _ = await _connect(ORIGIN, (b"cookie", cookie))
    assert connected
    greeting = await communicator.receive_json_from(timeout=5)
    assert greeting["type"] == "notifications.unread_count"
    return communicator


async def _connect(
    *headers: tuple[bytes, bytes],
) -> tuple[WebsocketCommunicator, bool, int | str | None]:
    communicator = WebsocketCommunicator(application, "/ws/events/", headers=list(headers))
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


@pytest.fixture
def doctor(transactional_db: None) -> User:
    return PractitionerFactory.create(user__username="live").user


@pytest.mark.django_db(transaction=True)
async def test_signed_in_user_receives_event_published_after_commit(doctor: User) -> None:
    cookie = await database_sync_to_async(session_cookie)(doctor)
    communicator = await _connect_signed_in(cookie)

    def send_and_check_nothing_left_early() -> None:
        with transaction.atomic():
            notification_send(recipient_ids=[doctor.pk], kind=NotificationKind.DUPLICATE_SUSPECTED)
            early = async_to_sync(communicator.receive_nothing)(timeout=0.3)
            assert early, "event was published before the transaction committed"

    await database_sync_to_async(send_and_check_nothing_left_early)()
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "notifications.created"
    assert message["unread_count"] == 1
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_nothing_is_published_when_the_transaction_rolls_back(doctor: User) -> None:
    cookie = await database_sync_to_async(session_cookie)(doctor)
    communicator = await _connect_signed_in(cookie)

    class RolledBack(Exception):
        pass

    def send_then_roll_back() -> None:
        with transaction.atomic():
            notification_send(recipient_ids=[doctor.pk], kind=NotificationKind.DUPLICATE_SUSPECTED)
            raise RolledBack

    with pytest.raises(RolledBack):
        await database_sync_to_async(send_then_roll_back)()
    assert await communicator.receive_nothing(timeout=1)
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_new_socket_starts_with_the_unread_count(doctor: User) -> None:
    await database_sync_to_async(notification_send)(
        recipient_ids=[doctor.pk], kind=NotificationKind.DUPLICATE_SUSPECTED
    )
    cookie = await database_sync_to_async(session_cookie)(doctor)
    communicator, connected, _ = await _connect(ORIGIN, (b"cookie", cookie))
    assert connected
    assert await communicator.receive_json_from(timeout=5) == {
        "type": "notifications.unread_count",
        "unread_count": 1,
    }
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_anonymous_socket_is_refused_with_4401() -> None:
    _, connected, code = await _connect(ORIGIN)
    assert (connected, code) == (False, 4401)


@pytest.mark.django_db(transaction=True)
async def test_cross_origin_socket_is_refused(doctor: User) -> None:
    cookie = await database_sync_to_async(session_cookie)(doctor)
    _, connected, _ = await _connect((b"origin", b"https://evil.example.com"), (b"cookie", cookie))
    assert connected is False


@pytest.mark.django_db(transaction=True)
async def test_sign_out_everywhere_closes_open_sockets_and_refuses_the_old_session(
    doctor: User,
) -> None:
    cookie = await database_sync_to_async(session_cookie)(doctor)
    communicator = await _connect_signed_in(cookie)
    await database_sync_to_async(user_logout_everywhere)(user=doctor)
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    _, connected_again, code = await _connect(ORIGIN, (b"cookie", cookie))
    assert (connected_again, code) == (False, 4401)


@pytest.mark.django_db(transaction=True)
async def test_a_live_ping_is_answered_with_a_pong_and_anything_else_is_ignored(
    doctor: User,
) -> None:
    cookie = await database_sync_to_async(session_cookie)(doctor)
    communicator = await _connect_signed_in(cookie)
    await communicator.send_to(text_data='{"type":"live.ping"}')
    assert await communicator.receive_json_from(timeout=5) == {"type": "live.pong"}
    # Anything else still goes to the consumer, which ignores what a browser sends here.
    await communicator.send_json_to({"type": "live.ping", "extra": 1})
    await communicator.send_to(text_data="not json at all, and longer than any ping can be")
    assert await communicator.receive_nothing(timeout=0.5)
    # ... and the socket is still open and answering.
    await communicator.send_to(text_data='{"type":"live.ping"}')
    assert await communicator.receive_json_from(timeout=5) == {"type": "live.pong"}
    await communicator.disconnect()


def _layers_at(url: str) -> dict[str, Any]:
    """The test settings' channel layer, on another Redis."""
    default: dict[str, Any] = copy.deepcopy(settings.CHANNEL_LAYERS["default"])
    default["CONFIG"]["hosts"] = [url]
    return {"default": default}


def _unsent(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "server.lib.events" and record.levelno == logging.WARNING
    ]


def test_event_with_redis_refusing_is_logged_without_patient_data_and_the_commit_stands(
    db: None,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    doctor = PractitionerFactory.create(user__username="offline").user
    settings.CHANNEL_LAYERS = _layers_at(refusing_redis_url())

    with django_capture_on_commit_callbacks(execute=True):
        notification_send(
            recipient_ids=[doctor.pk],
            kind=NotificationKind.DUPLICATE_SUSPECTED,
            subject=NotificationSubject(patient_name="王秀英"),
        )

    assert Notification.objects.filter(recipient=doctor).count() == 1
    [unsent] = _unsent(caplog)
    assert f"notifications.created to group user.{doctor.pk} not sent" in unsent
    assert "王秀英" not in caplog.text


def test_events_wait_on_a_silent_redis_once_then_skip_it(
    db: None,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    """A hung Redis costs the commit one publish timeout, not one per event."""
    doctors = [PractitionerFactory.create(user__username=f"hung{i}").user for i in range(3)]
    with silent_redis_url() as url:
        settings.CHANNEL_LAYERS = _layers_at(url)
        with django_capture_on_commit_callbacks(execute=True):
            notification_send(
                recipient_ids=[d.pk for d in doctors], kind=NotificationKind.DUPLICATE_SUSPECTED
            )

    first, *others = _unsent(caplog)
    assert "TimeoutError" in first
    assert len(others) == 2
    assert all("the channel layer failed a moment ago" in message for message in others)
    assert Notification.objects.filter(recipient__in=doctors).count() == 3
