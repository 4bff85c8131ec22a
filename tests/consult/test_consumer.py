"""The consult room socket through the real ASGI stack (origin check, session auth, Redis layer)."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from consult.models import ConsultRequest, Status
from consult.services import consult_accept
from server.accounts.models import User
from server.accounts.services import user_logout_everywhere
from server.asgi import application
from server.audit.models import AuditEvent, AuditOutcome
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.lib.sockets import ORIGIN, close_thread_connections, session_cookie

pytestmark = pytest.mark.usefixtures(close_thread_connections.__name__)


@pytest.fixture
def live_world(transactional_db: None, world: World) -> World:
    return world


async def _connect(
    consult: ConsultRequest, user: User | None
) -> tuple[WebsocketCommunicator, bool, int | str | None]:
    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", await database_sync_to_async(session_cookie)(user)))
    communicator = WebsocketCommunicator(
        application, f"/ws/consults/{consult.pk}/", headers=headers
    )
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def _joins(consult: ConsultRequest, outcome: AuditOutcome) -> int:
    return AuditEvent.objects.filter(
        event="consult.view", outcome=outcome, resource_id=str(consult.pk)
    ).count()


@pytest.mark.django_db(transaction=True)
async def test_participant_receives_the_consults_status_change_and_joining_is_audited(
    live_world: World,
) -> None:
    world = live_world
    consult = await database_sync_to_async(make_consult)(world, Status.ASSIGNED)
    requester, connected, _ = await _connect(consult, world.clinic_doctor)
    assert connected
    assert await database_sync_to_async(_joins)(consult, AuditOutcome.SUCCESS) == 1

    await database_sync_to_async(consult_accept)(consult_id=consult.pk, actor_user=world.specialist)

    message = await requester.receive_json_from(timeout=5)
    assert {k: v for k, v in message.items() if k != "at"} == {
        "type": "consult.status_changed",
        "consult_id": consult.pk,
        "from_status": "assigned",
        "status": "accepted",
    }
    assert message["at"].endswith(("Z", "+00:00"))
    await requester.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_room_relays_only_its_own_consult(live_world: World) -> None:
    world = live_world
    watched = await database_sync_to_async(make_consult)(world, Status.ASSIGNED)
    other = await database_sync_to_async(make_consult)(world, Status.ASSIGNED)
    specialist, connected, _ = await _connect(watched, world.specialist)
    assert connected
    await database_sync_to_async(consult_accept)(consult_id=other.pk, actor_user=world.specialist)
    assert await specialist.receive_nothing(timeout=0.5)
    await specialist.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_doctor_of_an_unrelated_township_is_refused_with_4403_and_audited(
    live_world: World,
) -> None:
    consult = await database_sync_to_async(make_consult)(live_world, Status.ASSIGNED)
    _, connected, code = await _connect(consult, live_world.other_clinic_doctor)
    assert (connected, code) == (False, 4403)
    assert await database_sync_to_async(_joins)(consult, AuditOutcome.DENIED) == 1


@pytest.mark.django_db(transaction=True)
async def test_missing_consult_is_refused_like_a_hidden_one(live_world: World) -> None:
    consult = await database_sync_to_async(make_consult)(live_world, Status.ASSIGNED)
    consult.pk += 1000
    _, connected, code = await _connect(consult, live_world.coordinator)
    assert (connected, code) == (False, 4403)


@pytest.mark.django_db(transaction=True)
async def test_anonymous_socket_is_refused_with_4401(live_world: World) -> None:
    consult = await database_sync_to_async(make_consult)(live_world, Status.ASSIGNED)
    _, connected, code = await _connect(consult, None)
    assert (connected, code) == (False, 4401)


@pytest.mark.django_db(transaction=True)
async def test_an_unknown_client_message_is_answered_and_the_socket_stays_open(
    live_world: World,
) -> None:
    consult = await database_sync_to_async(make_consult)(live_world, Status.ASSIGNED)
    requester, connected, _ = await _connect(consult, live_world.clinic_doctor)
    assert connected
    await requester.send_json_to({"type": "consult.hello"})
    answer = await requester.receive_json_from(timeout=5)
    assert answer["type"] == "review.invalid"
    assert answer["fields"] == ["type"]
    await requester.send_json_to({"type": "review.ping"})
    assert await requester.receive_nothing(timeout=0.5)
    await requester.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_sign_out_everywhere_closes_the_consult_room(live_world: World) -> None:
    world = live_world
    consult = await database_sync_to_async(make_consult)(world, Status.ASSIGNED)
    requester, connected, _ = await _connect(consult, world.clinic_doctor)
    assert connected
    await database_sync_to_async(user_logout_everywhere)(user=world.clinic_doctor)
    assert await requester.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


@pytest.mark.django_db(transaction=True)
async def test_room_closes_with_4403_when_access_ends_while_open(live_world: World) -> None:
    world = live_world
    consult = await database_sync_to_async(make_consult)(world, Status.ASSIGNED)
    requester, connected, _ = await _connect(consult, world.clinic_doctor)
    assert connected

    def leave_institution() -> None:
        practitioner = world.clinic_doctor.practitioner
        practitioner.is_active = False
        practitioner.save(update_fields=["is_active"])

    await database_sync_to_async(leave_institution)()
    await database_sync_to_async(consult_accept)(consult_id=consult.pk, actor_user=world.specialist)
    assert await requester.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
