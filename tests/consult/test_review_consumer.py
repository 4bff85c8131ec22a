"""The shared review over the consult room socket: real ASGI stack, Redis channel layer."""

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from consult.models import ConsultRequest, ReviewPresence
from consult.services import consult_cancel
from server.accounts.models import User
from server.asgi import application
from server.audit.models import AuditEvent, AuditOutcome
from tests.conftest import World
from tests.consult.test_review import STUDY_UID, consult_with_study
from tests.lib.sockets import ORIGIN, close_thread_connections, session_cookie

pytestmark = [
    pytest.mark.usefixtures(close_thread_connections.__name__, "archive"),
    pytest.mark.django_db(transaction=True),
]

TIMEOUT = 5
VIEW = {
    "seriesInstanceUid": "1.2.826.0.1.3680043.8.498.77.1",
    "imageIndex": 7,
    "windowCenter": 40.0,
    "windowWidth": 400.0,
    "invert": False,
    "zoom": 1.5,
    "pan": [12.0, -3.5],
}


@pytest.fixture
def live_world(transactional_db: None, world: World) -> World:
    return world


async def _open(consult: ConsultRequest, user: User) -> tuple[WebsocketCommunicator, bool, Any]:
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator = WebsocketCommunicator(
        application, f"/ws/consults/{consult.pk}/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    connected, code = await communicator.connect(timeout=TIMEOUT)
    return communicator, connected, code


async def _next(communicator: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    """The next message of this type, skipping others (presence updates arrive in between)."""
    while True:
        message: dict[str, Any] = await communicator.receive_json_from(timeout=TIMEOUT)
        if message["type"] == kind:
            return message


async def _state_led_by(communicator: WebsocketCommunicator, user: User) -> dict[str, Any]:
    """The first review state naming this lead (a joiner may also get its own join's state)."""
    while (state := await _next(communicator, "review.state"))["lead_user_id"] != user.pk:
        pass
    return state


async def _join(
    consult: ConsultRequest, user: User
) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator, connected, _ = await _open(consult, user)
    assert connected
    await communicator.send_json_to({"type": "review.join", "study": STUDY_UID})
    return communicator, await _next(communicator, "review.joined")


async def _join_on(
    communicator: WebsocketCommunicator,
) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    await communicator.send_json_to({"type": "review.join", "study": STUDY_UID})
    return communicator, await _next(communicator, "review.joined")


def _audited(event: str, outcome: AuditOutcome) -> list[int | None]:
    return list(
        AuditEvent.objects.filter(event=event, outcome=outcome)
        .order_by("seq")
        .values_list("actor_id", flat=True)
    )


async def test_participants_join_the_lead_view_reaches_the_follower_and_not_back(
    live_world: World,
) -> None:
    world = live_world
    consult = await database_sync_to_async(consult_with_study)(world)
    lead, joined = await _join(consult, world.specialist)
    assert joined["state"]["lead_user_id"] == world.specialist.pk
    follower, joined = await _join(consult, world.clinic_doctor)
    assert joined["state"]["lead_user_id"] == world.specialist.pk
    presence = await _next(lead, "review.state")
    assert [p["user_id"] for p in presence["participants"]] == [
        world.specialist.pk,
        world.clinic_doctor.pk,
    ]

    await lead.send_json_to({"type": "review.view", "state": VIEW})
    assert await _next(follower, "review.view") == {
        "type": "review.view",
        "from_user_id": world.specialist.pk,
        "state": VIEW,
    }
    await lead.send_json_to({"type": "review.pointer", "pointer": {"x": 10.5, "y": 20}})
    pointer = await _next(follower, "review.pointer")
    assert pointer["pointer"] == {"x": 10.5, "y": 20.0}
    # A follower's view is not relayed: followers only ever see the lead.
    await follower.send_json_to({"type": "review.view", "state": {**VIEW, "imageIndex": 1}})
    assert await lead.receive_nothing(timeout=0.5)

    joins = await database_sync_to_async(_audited)("consult.review_join", AuditOutcome.SUCCESS)
    assert joins == [world.specialist.pk, world.clinic_doctor.pk]
    await lead.disconnect()
    await follower.disconnect()


async def test_a_participant_who_is_not_the_lead_cannot_relay_annotations(
    live_world: World,
) -> None:
    world = live_world
    consult = await database_sync_to_async(consult_with_study)(world)
    lead, _ = await _join(consult, world.specialist)
    follower, _ = await _join(consult, world.clinic_doctor)
    await _next(lead, "review.state")  # the follower is here
    annotation = {
        "annotationUid": "a-1",
        "seriesInstanceUid": VIEW["seriesInstanceUid"],
        "sopInstanceUid": "1.2.826.0.1.3680043.8.498.77.1.1",
        "tool": "Length",
        "data": {"handles": {"points": [[0, 0, 0], [5, 5, 0]]}},
    }

    await follower.send_json_to({"type": "review.annotations", "annotations": [annotation]})
    assert await lead.receive_nothing(timeout=0.5)
    await lead.send_json_to({"type": "review.annotations", "annotations": [annotation]})
    relayed = await _next(follower, "review.annotations")
    assert relayed["annotations"] == [annotation]
    await lead.disconnect()
    await follower.disconnect()


async def test_the_lead_hands_over_and_then_only_the_new_lead_is_followed(
    live_world: World,
) -> None:
    world = live_world
    consult = await database_sync_to_async(consult_with_study)(world)
    lead, _ = await _join(consult, world.specialist)
    follower, _ = await _join(consult, world.clinic_doctor)

    await follower.send_json_to({"type": "review.handover", "to_user_id": world.specialist.pk})
    refused = await _next(follower, "review.refused")
    assert "lead" in refused["reason"]
    await _next(lead, "review.state")  # the follower is here
    await lead.send_json_to({"type": "review.handover", "to_user_id": world.clinic_doctor.pk})
    for communicator in (lead, follower):
        await _state_led_by(communicator, world.clinic_doctor)

    await lead.send_json_to({"type": "review.view", "state": VIEW})
    assert await follower.receive_nothing(timeout=0.5)
    await follower.send_json_to({"type": "review.view", "state": VIEW})
    assert (await _next(lead, "review.view"))["from_user_id"] == world.clinic_doctor.pk
    await lead.disconnect()
    await follower.disconnect()


async def test_when_the_lead_disconnects_the_follower_leads(live_world: World) -> None:
    world = live_world
    consult = await database_sync_to_async(consult_with_study)(world)
    lead, _ = await _join(consult, world.specialist)
    follower, _ = await _join(consult, world.clinic_doctor)

    await lead.disconnect()

    state = await _state_led_by(follower, world.clinic_doctor)
    assert [p["user_id"] for p in state["participants"]] == [world.clinic_doctor.pk]
    await follower.disconnect()
    assert not await database_sync_to_async(ReviewPresence.objects.exists)()


async def test_someone_who_may_view_the_consult_but_not_take_part_is_refused_and_audited(
    live_world: World,
) -> None:
    world = live_world
    consult = await database_sync_to_async(consult_with_study)(world)
    coordinator, connected, _ = await _open(consult, world.coordinator)
    assert connected  # coordinators watch every consult of their consortium

    await coordinator.send_json_to({"type": "review.join", "study": STUDY_UID})

    assert await coordinator.receive_output(timeout=TIMEOUT) == {
        "type": "websocket.close",
        "code": 4403,
    }
    denied = await database_sync_to_async(_audited)("consult.review_join", AuditOutcome.DENIED)
    assert denied == [world.coordinator.pk]


async def test_a_doctor_of_an_unrelated_township_cannot_even_open_the_room(
    live_world: World,
) -> None:
    world = live_world
    consult = await database_sync_to_async(consult_with_study)(world)
    _, connected, code = await _open(consult, world.other_clinic_doctor)
    assert (connected, code) == (False, 4403)
    denied = await database_sync_to_async(_audited)("consult.view", AuditOutcome.DENIED)
    assert denied == [world.other_clinic_doctor.pk]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "review.view", "state": {**VIEW, "imageIndex": -1}},
        {"type": "review.view", "state": {**VIEW, "windowWidth": 0}},
        {"type": "review.view", "state": {**VIEW, "extra": 1}},
        {"type": "review.pointer", "pointer": {"x": "left", "y": 0}},
        {"type": "review.join", "study": "1.2.3; DROP"},
        {
            "type": "review.annotations",
            "annotations": [
                {
                    "annotationUid": f"a-{n}",
                    "seriesInstanceUid": "1.2",
                    "sopInstanceUid": "1.2.3",
                    "tool": "ArrowAnnotate",
                    "data": {"text": "x" * 30_000},
                }
                for n in range(10)
            ],
        },
    ],
)
async def test_a_malformed_review_message_is_answered_and_the_socket_stays_open(
    live_world: World, message: dict[str, Any]
) -> None:
    world = live_world
    consult = await database_sync_to_async(consult_with_study)(world)
    lead, _ = await _join(consult, world.specialist)
    await lead.send_json_to(message)
    answer = await _next(lead, "review.invalid")
    assert answer["fields"]
    assert answer["reason"]
    # Still connected and still in the review: a ping is taken, a good view is relayed.
    follower, _ = await _join(consult, world.clinic_doctor)
    await lead.send_json_to({"type": "review.view", "state": VIEW})
    assert (await _next(follower, "review.view"))["state"] == VIEW
    await lead.disconnect()
    await follower.disconnect()


async def test_a_view_state_with_null_zoom_and_pan_gets_an_error_naming_them_not_a_close(
    live_world: World,
) -> None:
    # What the viewer sent for a radiograph with PixelSpacing 0\0: NaN serialised as null.
    world = live_world
    consult = await database_sync_to_async(consult_with_study)(world)
    lead, _ = await _join(consult, world.specialist)

    await lead.send_json_to(
        {"type": "review.view", "state": {**VIEW, "zoom": None, "pan": [None, None]}}
    )

    answer = await _next(lead, "review.invalid")
    assert answer["fields"] == [
        "review.view.state.pan.0",
        "review.view.state.pan.1",
        "review.view.state.zoom",
    ]
    await lead.send_json_to({"type": "review.ping"})
    assert await lead.receive_nothing(timeout=0.5)
    await lead.disconnect()


async def test_the_leads_messages_before_joining_a_review_are_answered_not_relayed(
    live_world: World,
) -> None:
    world = live_world
    consult = await database_sync_to_async(consult_with_study)(world)
    communicator, connected, _ = await _open(consult, world.specialist)
    assert connected
    await communicator.send_json_to({"type": "review.view", "state": VIEW})
    answer = await _next(communicator, "review.invalid")
    assert answer["reason"] == "review.view before review.join: dropped"
    _, joined = await _join_on(communicator)
    assert joined["state"]["lead_user_id"] == world.specialist.pk
    await communicator.disconnect()


async def test_the_review_closes_when_the_consult_is_cancelled(live_world: World) -> None:
    world = live_world
    consult = await database_sync_to_async(consult_with_study)(world)
    lead, _ = await _join(consult, world.specialist)

    await database_sync_to_async(consult_cancel)(
        consult_id=consult.pk, actor_user=world.clinic_doctor, reason="患者已转院"
    )

    while (output := await lead.receive_output(timeout=TIMEOUT))["type"] != "websocket.close":
        pass
    assert output == {"type": "websocket.close", "code": 4403}


async def test_the_consult_room_answers_a_live_ping_before_the_review_sees_it(
    live_world: World,
) -> None:
    world = live_world
    consult = await database_sync_to_async(consult_with_study)(world)
    communicator, connected, _ = await _open(consult, world.clinic_doctor)
    assert connected
    await communicator.send_json_to({"type": "live.ping"})
    assert await _next(communicator, "live.pong") == {"type": "live.pong"}
    await communicator.disconnect()
