"""Every move of the transition table, allowed and forbidden, through consult_transition."""

from datetime import timedelta
from itertools import product

import pytest
from django.utils import timezone, translation

from consult.errors import InvalidTransition
from consult.lifecycle import PAUSABLE, TRANSITIONS, Party
from consult.models import (
    ConsultEvent,
    ConsultRequest,
    DeclineCode,
    Disposition,
    Mode,
    Status,
)
from consult.services import Assignment, consult_transition
from server.access import NotFound
from server.accounts.models import User
from server.directory.errors import NotAllowed
from server.directory.models import AccessGrant
from tests.conftest import World
from tests.consult.conftest import make_consult, practitioner_of, sign_directly

ALL_MOVES = list(product(Status, Status))
ALLOWED = [move for move in ALL_MOVES if move in TRANSITIONS]
FORBIDDEN = [move for move in ALL_MOVES if move not in TRANSITIONS]


def _mode_for(from_status: Status, to: Status) -> Mode:
    offline = Status.UNDER_REVIEW in (from_status, to)
    if from_status == Status.NEEDS_INFO:
        offline = to != Status.SCHEDULED
    return Mode.OFFLINE if offline else Mode.LIVE


def _actor(world: World, party: Party) -> User | None:
    return {
        Party.REQUESTER: world.clinic_doctor,
        Party.ROUTER: world.coordinator,
        Party.LEAD: world.specialist,
        Party.CORRECTOR: world.coordinator,
        Party.SYSTEM: None,
    }.get(party, world.coordinator)


def _setup(world: World, from_status: Status, to: Status) -> ConsultRequest:
    consult = make_consult(world, from_status, mode=_mode_for(from_status, to))
    if from_status == Status.NEEDS_INFO and to in PAUSABLE:
        consult.paused_from = to
        consult.save()
    if to == Status.OPINION_SIGNED:
        sign_directly(consult, practitioner_of(world.specialist))
    return consult


@pytest.mark.parametrize(("from_status", "to"), ALLOWED, ids=lambda s: str(s))
def test_allowed_transition_moves_and_is_logged(
    world: World, from_status: Status, to: Status
) -> None:
    consult = _setup(world, from_status, to)
    party = sorted(TRANSITIONS[(from_status, to)])[0]
    specialist_id = practitioner_of(world.specialist).pk
    moved = consult_transition(
        consult_id=consult.pk,
        actor_user=_actor(world, party),
        to=to,
        reason="原因",
        reason_code=DeclineCode.UNAVAILABLE if to == Status.DECLINED else "",
        assignment=Assignment(practitioner_ids=(specialist_id,), lead_id=specialist_id),
        scheduled_start=timezone.now() + timedelta(hours=1),
        disposition=Disposition.ADOPTED,
    )
    assert moved.status == to
    event = ConsultEvent.objects.get(consult=consult)
    assert (event.from_status, event.to_status) == (from_status, to)


@pytest.mark.parametrize(("from_status", "to"), FORBIDDEN, ids=lambda s: str(s))
def test_forbidden_transition_is_refused_and_changes_nothing(
    world: World, from_status: Status, to: Status
) -> None:
    consult = make_consult(world, from_status)
    for user in (world.clinic_doctor, world.coordinator, None):
        with pytest.raises(InvalidTransition):
            consult_transition(consult_id=consult.pk, actor_user=user, to=to, reason="原因")
    consult.refresh_from_db()
    assert consult.status == from_status
    assert not ConsultEvent.objects.filter(consult=consult).exists()


@pytest.mark.parametrize(("from_status", "to"), ALLOWED, ids=lambda s: str(s))
def test_allowed_transition_is_hidden_from_an_unrelated_township(
    world: World, from_status: Status, to: Status
) -> None:
    consult = _setup(world, from_status, to)
    with pytest.raises(NotFound):
        consult_transition(
            consult_id=consult.pk, actor_user=world.other_clinic_doctor, to=to, reason="原因"
        )


def test_requester_cannot_accept_their_own_request(world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)
    with pytest.raises(NotAllowed):
        consult_transition(
            consult_id=consult.pk, actor_user=world.clinic_doctor, to=Status.ACCEPTED
        )


def test_system_cannot_make_a_person_s_move(world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)
    with pytest.raises(InvalidTransition):
        consult_transition(consult_id=consult.pk, actor_user=None, to=Status.ACCEPTED)


def test_submit_needs_consent_or_a_waiver(world: World) -> None:
    consult = make_consult(world, consent_signer="", consent_method="")
    with pytest.raises(InvalidTransition) as refused:
        consult_transition(
            consult_id=consult.pk, actor_user=world.clinic_doctor, to=Status.SUBMITTED
        )
    assert refused.value.field == "consent_signer"
    consult.emergency_waiver, consult.waiver_reason = True, "患者昏迷 家属未到"
    consult.save()
    moved = consult_transition(
        consult_id=consult.pk, actor_user=world.clinic_doctor, to=Status.SUBMITTED
    )
    assert moved.status == Status.SUBMITTED


def test_written_consent_needs_the_scanned_form(world: World) -> None:
    consult = make_consult(world, consent_method="written")
    with pytest.raises(InvalidTransition) as refused:
        consult_transition(
            consult_id=consult.pk, actor_user=world.clinic_doctor, to=Status.SUBMITTED
        )
    assert refused.value.field == "attachments"


def test_answer_returns_to_the_status_that_paused(world: World) -> None:
    consult = make_consult(world, Status.NEEDS_INFO, paused_from=Status.UNDER_REVIEW)
    with pytest.raises(InvalidTransition):
        consult_transition(
            consult_id=consult.pk, actor_user=world.clinic_doctor, to=Status.ACCEPTED, reason="补充"
        )


def test_live_consult_is_scheduled_not_reviewed(world: World) -> None:
    consult = make_consult(world, Status.ACCEPTED, mode=Mode.LIVE)
    with pytest.raises(InvalidTransition):
        consult_transition(
            consult_id=consult.pk, actor_user=world.specialist, to=Status.UNDER_REVIEW
        )


def test_invited_institution_holds_a_grant_only_while_the_consult_is_active(
    world: World,
) -> None:
    consult = make_consult(world, Status.SUBMITTED)
    specialist_id = practitioner_of(world.specialist).pk
    consult_transition(
        consult_id=consult.pk,
        actor_user=world.coordinator,
        to=Status.ASSIGNED,
        assignment=Assignment(practitioner_ids=(specialist_id,), lead_id=specialist_id),
    )
    grant = AccessGrant.objects.get(source_type="consult", source_id=str(consult.pk))
    # To the specialist on it, not their whole hospital, and never without an end.
    assert (grant.institution_id, grant.user_id) == (world.county.pk, world.specialist.pk)
    assert grant.ends_at > timezone.now()
    consult_transition(
        consult_id=consult.pk, actor_user=world.clinic_doctor, to=Status.CANCELLED, reason="好转"
    )
    grant.refresh_from_db()
    assert grant.ends_at is not None


@pytest.mark.parametrize(
    ("from_status", "to", "who", "reason_code", "words"),
    [
        (Status.DRAFT, Status.CANCELLED, "clinic_doctor", "", "Give a reason."),
        (
            Status.NEEDS_INFO,
            Status.UNDER_REVIEW,
            "clinic_doctor",
            "",
            "Give the information asked for.",
        ),
        (
            Status.ASSIGNED,
            Status.DECLINED,
            "specialist",
            DeclineCode.UNAVAILABLE,
            "Explain why you decline.",
        ),
    ],
)
def test_each_missing_reason_is_refused_in_its_own_words(
    world: World,
    from_status: Status,
    to: Status,
    who: str,
    reason_code: str,
    words: str,
) -> None:
    paused = {"paused_from": to} if from_status == Status.NEEDS_INFO else {}
    consult = make_consult(world, from_status, mode=Mode.OFFLINE, **paused)
    with translation.override("en"), pytest.raises(InvalidTransition) as refused:
        consult_transition(
            consult_id=consult.pk,
            actor_user=getattr(world, who),
            to=to,
            reason="",
            reason_code=reason_code,
        )
    assert (refused.value.field, refused.value.message) == ("reason", words)
