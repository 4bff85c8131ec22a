"""Worklist events over the one live socket (real ASGI stack, session auth, Redis layer)."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from consult.models import ConsultRequest, Status, TargetKind
from consult.services import Assignment, consult_transition
from server.accounts.models import User
from server.asgi import application
from server.directory.models import Department, Role, Specialty, Title
from tests.conftest import World
from tests.consult.conftest import make_consult, practitioner_of
from tests.factories import DepartmentFactory, PractitionerFactory
from tests.lib.sockets import ORIGIN, close_thread_connections, session_cookie

pytestmark = pytest.mark.usefixtures(close_thread_connections.__name__)


@pytest.fixture
def live_world(transactional_db: None, world: World) -> World:
    return world


async def _connect(user: User) -> WebsocketCommunicator:
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator = WebsocketCommunicator(
        application, "/ws/events/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    greeting = await communicator.receive_json_from(timeout=5)
    assert greeting["type"] == "notifications.unread_count"
    return communicator


def _assign(world: World, consult: ConsultRequest) -> None:
    specialist_id = practitioner_of(world.specialist).pk
    consult_transition(
        consult_id=consult.pk,
        actor_user=world.coordinator,
        to=Status.ASSIGNED,
        assignment=Assignment(practitioner_ids=(specialist_id,), lead_id=specialist_id),
    )


@pytest.mark.django_db(transaction=True)
async def test_specialist_sees_the_assigned_consult_arrive_and_a_stranger_does_not(
    live_world: World,
) -> None:
    world = live_world
    consult = await database_sync_to_async(make_consult)(world, Status.SUBMITTED)
    specialist = await _connect(world.specialist)
    stranger = await _connect(world.other_clinic_doctor)

    await database_sync_to_async(_assign)(world, consult)

    received = [await specialist.receive_json_from(timeout=5) for _ in range(2)]
    worklist = next(m for m in received if m["type"] == "consult.worklist_changed")
    assert worklist == {
        "type": "consult.worklist_changed",
        "worklist": "incoming",
        "consult_id": consult.pk,
        "status": "assigned",
        "urgency": "urgent",
    }
    assert {m["type"] for m in received} == {"consult.worklist_changed", "notifications.created"}
    assert await stranger.receive_nothing(timeout=0.5)
    await specialist.disconnect()
    await stranger.disconnect()


def _department_queue_with_specialist(world: World) -> tuple[Department, User]:
    department = DepartmentFactory.create(institution=world.county, specialty=Specialty.RADIOLOGY)
    member = PractitionerFactory.create(
        institution=world.county,
        department=department,
        role_list=[Role.SPECIALIST],
        specialty=Specialty.RADIOLOGY,
        title=Title.CHIEF,
    ).user
    return department, member


@pytest.mark.django_db(transaction=True)
async def test_department_queue_members_hear_of_a_queued_consult_in_one_send(
    live_world: World,
) -> None:
    world = live_world
    department, member = await database_sync_to_async(_department_queue_with_specialist)(world)
    consult = await database_sync_to_async(make_consult)(
        world,
        Status.DRAFT,
        target_kind=TargetKind.DEPARTMENT,
        target_practitioner=None,
        target_department=department,
    )
    queue_member = await _connect(member)
    outsider = await _connect(world.specialist)  # a specialist of no department

    await database_sync_to_async(consult_transition)(
        consult_id=consult.pk, actor_user=world.clinic_doctor, to=Status.SUBMITTED
    )

    received = [await queue_member.receive_json_from(timeout=5) for _ in range(2)]
    worklist = next(m for m in received if m["type"] == "consult.worklist_changed")
    assert (worklist["worklist"], worklist["consult_id"]) == ("queue", consult.pk)
    assert await outsider.receive_nothing(timeout=0.5)
    await queue_member.disconnect()
    await outsider.disconnect()
