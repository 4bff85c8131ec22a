"""The deadline sweep expires consults whose acceptance window ended, and leaves the rest."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consult.models import ConsultEvent, Status
from consult.services import consult_deadlines_sweep
from server.notifications.models import Notification, NotificationKind
from tests.conftest import World
from tests.consult.conftest import make_consult


def test_sweep_expires_an_unaccepted_consult_whose_window_ended(world: World) -> None:
    now = timezone.now()
    consult = make_consult(
        world,
        Status.ASSIGNED,
        preferred_start=now - timedelta(days=2),
        preferred_end=now - timedelta(minutes=1),
    )
    consult_deadlines_sweep(now=now)
    consult.refresh_from_db()
    assert consult.status == Status.EXPIRED
    event = ConsultEvent.objects.filter(consult=consult).last()
    assert event is not None
    assert (event.from_status, event.to_status, event.actor_id) == (
        Status.ASSIGNED,
        Status.EXPIRED,
        None,
    )
    for user in (world.clinic_doctor, world.specialist):
        assert Notification.objects.filter(
            recipient=user, kind=NotificationKind.CONSULT_WITHDRAWN
        ).exists()


@pytest.mark.parametrize(
    ("status", "ends_in"),
    [
        (Status.SUBMITTED, timedelta(hours=1)),  # window still open
        (Status.ACCEPTED, -timedelta(hours=1)),  # accepted in time: the window no longer binds
        (Status.NEEDS_INFO, -timedelta(hours=1)),  # paused
    ],
)
def test_sweep_leaves_consults_that_do_not_expire(
    world: World, status: Status, ends_in: timedelta
) -> None:
    now = timezone.now()
    consult = make_consult(
        world, status, preferred_start=now - timedelta(days=2), preferred_end=now + ends_in
    )
    consult_deadlines_sweep(now=now)
    consult.refresh_from_db()
    assert consult.status == status
