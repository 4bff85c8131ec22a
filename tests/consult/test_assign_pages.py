"""The assignment page: coordinators and department heads choose the invited doctors."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consult.models import (
    ConsultParticipant,
    ConsultRequest,
    Escalation,
    Kind,
    Status,
    TargetKind,
)
from server.accounts.models import User
from server.directory.models import Specialty, Title
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult, practitioner_of
from tests.factories import DepartmentFactory
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name below

pytestmark = pytest.mark.usefixtures("built_assets")


def _signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _assign(consult: ConsultRequest) -> str:
    return reverse("consults:assign", kwargs={"consult_id": consult.pk})


def _detail(consult: ConsultRequest) -> str:
    return reverse("consults:detail", kwargs={"consult_id": consult.pk})


def _waiting(world: World, **fields: object) -> ConsultRequest:
    """A submitted consult that found nobody: it waits at the consult centre."""
    values: dict[str, object] = {
        "target_kind": TargetKind.CONSULT_CENTRE,
        "target_practitioner": None,
    }
    values.update(fields)
    return make_consult(world, Status.SUBMITTED, **values)


def test_candidates_list_eligible_first_and_say_why_others_are_not(
    client: Client, world: World
) -> None:
    on_duty = add_specialist(world, "on_duty")
    resident = add_specialist(world, "resident", title=Title.RESIDENT)
    cardiologist = add_specialist(world, "cardio", specialty=Specialty.CARDIOLOGY)
    newcomer = add_specialist(
        world, "newcomer", since=timezone.localdate().replace(year=2025, day=1)
    )
    consult = _waiting(world)

    response = _signed_in(client, world.coordinator).get(_assign(consult))

    assert response.status_code == 200
    rows = {c.practitioner.pk: (c, why) for c, why in response.context["candidates"]}
    order = [c.practitioner.pk for c, _ in response.context["candidates"]]
    assert order[0] == on_duty.pk
    off_duty = practitioner_of(world.specialist).pk
    assert order[1] == off_duty
    assert not rows[off_duty][0].on_duty
    assert rows[resident.pk][1] == "a lower title than the one asked for"
    assert rows[cardiologist.pk][1] == "another specialty than the one asked for"
    assert rows[newcomer.pk][1] == "under 3 years of independent practice"
    page = response.content.decode()
    assert "off duty" in page
    assert f'value="{on_duty.pk}"' in page
    assert f'value="{resident.pk}"' not in page


def test_coordinator_assigns_one_specialist(client: Client, world: World) -> None:
    chosen = add_specialist(world, "chosen")
    consult = _waiting(world)

    response = _signed_in(client, world.coordinator).post(
        _assign(consult), {"practitioners": [str(chosen.pk)]}
    )

    assert response["Location"] == _detail(consult)
    consult.refresh_from_db()
    assert consult.status == Status.ASSIGNED
    participant = ConsultParticipant.objects.get(consult=consult)
    assert (participant.practitioner_id, participant.is_lead) == (chosen.pk, True)


def test_ineligible_choice_is_refused_in_words(client: Client, world: World) -> None:
    resident = add_specialist(world, "resident", title=Title.RESIDENT)
    consult = _waiting(world)

    response = _signed_in(client, world.coordinator).post(
        _assign(consult), {"practitioners": [str(resident.pk)]}
    )

    assert response.status_code == 200
    assert "A chosen doctor cannot take this consult" in response.content.decode()
    consult.refresh_from_db()
    assert consult.status == Status.SUBMITTED


def test_choosing_nobody_is_refused_in_words(client: Client, world: World) -> None:
    consult = _waiting(world)

    response = _signed_in(client, world.coordinator).post(_assign(consult), {})

    assert "Choose a doctor." in response.content.decode()


def test_mdt_team_is_invited_with_its_lead(client: Client, world: World) -> None:
    lead = add_specialist(world, "lead")
    member = add_specialist(world, "member", specialty=Specialty.CARDIOLOGY)
    consult = _waiting(world, kind=Kind.MDT)

    response = _signed_in(client, world.coordinator).post(
        _assign(consult), {"practitioners": [str(lead.pk), str(member.pk)], "lead": str(lead.pk)}
    )

    assert response.status_code == 302
    team = dict(
        ConsultParticipant.objects.filter(consult=consult).values_list("practitioner_id", "is_lead")
    )
    assert team == {lead.pk: True, member.pk: False}


def test_mdt_team_without_a_lead_is_refused_in_words(client: Client, world: World) -> None:
    first = add_specialist(world, "first")
    second = add_specialist(world, "second")
    consult = _waiting(world, kind=Kind.MDT)

    response = _signed_in(client, world.coordinator).post(
        _assign(consult), {"practitioners": [str(first.pk), str(second.pk)]}
    )

    assert "Choose the lead among the invited doctors." in response.content.decode()
    assert not ConsultParticipant.objects.filter(consult=consult).exists()


def test_department_head_assigns_from_their_queue(client: Client, world: World) -> None:
    head = add_specialist(world, "head")
    department = DepartmentFactory.create(
        institution=world.county, specialty=Specialty.RADIOLOGY, head=head
    )
    colleague = add_specialist(world, "colleague", department=department)
    consult = _waiting(world, target_kind=TargetKind.DEPARTMENT, target_department=department)

    response = _signed_in(client, head.user).post(
        _assign(consult), {"practitioners": [str(colleague.pk)]}
    )

    assert response.status_code == 302
    consult.refresh_from_db()
    assert consult.status == Status.ASSIGNED


def test_assign_page_is_404_for_a_stranger(client: Client, world: World) -> None:
    consult = _waiting(world)

    response = _signed_in(client, world.other_clinic_doctor).get(_assign(consult))

    assert response.status_code == 404


def test_assign_page_is_403_in_words_for_the_requester(client: Client, world: World) -> None:
    chosen = add_specialist(world, "chosen")
    consult = _waiting(world)
    requester = _signed_in(client, world.clinic_doctor)

    shown = requester.get(_assign(consult))
    posted = requester.post(_assign(consult), {"practitioners": [str(chosen.pk)]})

    assert (shown.status_code, posted.status_code) == (403, 403)
    assert "You may not choose the specialists of this consult." in shown.content.decode()
    consult.refresh_from_db()
    assert consult.status == Status.SUBMITTED


def test_assign_page_of_an_assigned_consult_says_it_is_not_waiting(
    client: Client, world: World
) -> None:
    consult = make_consult(world, Status.ASSIGNED)

    response = _signed_in(client, world.coordinator).get(_assign(consult), follow=True)

    assert "This consult is not waiting for specialists." in response.content.decode()


def test_detail_and_overdue_board_link_the_assign_page_for_coordinators(
    client: Client, world: World
) -> None:
    consult = _waiting(world)
    Escalation.objects.create(consult=consult, deadline="accept", due_at=timezone.now())
    coordinator = _signed_in(client, world.coordinator)

    detail = coordinator.get(_detail(consult))
    board = coordinator.get(reverse("consults:worklist"), {"list": "overdue"})
    requester = _signed_in(Client(), world.clinic_doctor).get(_detail(consult))

    assert _assign(consult) in detail.content.decode()
    assert _assign(consult) in board.content.decode()
    assert _assign(consult) not in requester.content.decode()
