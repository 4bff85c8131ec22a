"""Recording the patient's consent after a waiver, and who may record it."""

import pytest

from consult.errors import ConsultError
from consult.models import ConsentMethod, ConsentRelation, ConsultRequest, Status, Urgency
from consult.services import consult_consent_record
from server.access import NotFound
from tests.conftest import World
from tests.consult.conftest import make_consult


def _waived(world: World) -> ConsultRequest:
    return make_consult(
        world,
        Status.SUBMITTED,
        urgency=Urgency.CRITICAL,
        consent_signer="",
        consent_relation="",
        consent_method="",
        consent_recorded_at=None,
        emergency_waiver=True,
        waiver_reason="患者昏迷且家属未到",
        consent_follow_up_due=True,
    )


def test_consent_recorded_after_a_waiver_ends_its_follow_up(world: World) -> None:
    consult = _waived(world)
    recorded = consult_consent_record(
        consult_id=consult.pk,
        actor_user=world.clinic_doctor,
        signer=" 李建国 ",
        relation=ConsentRelation.CHILD,
        method=ConsentMethod.ELECTRONIC,
    )
    assert (recorded.consent_signer, recorded.consent_relation, recorded.consent_method) == (
        "李建国",
        ConsentRelation.CHILD,
        ConsentMethod.ELECTRONIC,
    )
    assert recorded.consent_recorded_at is not None
    assert recorded.consent_follow_up_due is False
    assert recorded.emergency_waiver is True  # the waiver stays on record


def test_consent_needs_the_signers_name(world: World) -> None:
    consult = _waived(world)
    with pytest.raises(ConsultError) as refused:
        consult_consent_record(
            consult_id=consult.pk,
            actor_user=world.clinic_doctor,
            signer="  ",
            relation=ConsentRelation.SELF,
            method=ConsentMethod.ELECTRONIC,
        )
    assert refused.value.field == "signer"


def test_only_the_requester_records_consent(world: World) -> None:
    consult = _waived(world)
    for user in (world.specialist, world.coordinator, world.other_clinic_doctor):
        with pytest.raises(NotFound):
            consult_consent_record(
                consult_id=consult.pk,
                actor_user=user,
                signer="李建国",
                relation=ConsentRelation.CHILD,
                method=ConsentMethod.ELECTRONIC,
            )
    consult.refresh_from_db()
    assert consult.consent_follow_up_due is True


def test_consent_cannot_be_recorded_on_a_finished_consult(world: World) -> None:
    consult = _waived(world)
    ConsultRequest.objects.filter(pk=consult.pk).update(status=Status.CANCELLED)
    with pytest.raises(ConsultError) as refused:
        consult_consent_record(
            consult_id=consult.pk,
            actor_user=world.clinic_doctor,
            signer="李建国",
            relation=ConsentRelation.CHILD,
            method=ConsentMethod.ELECTRONIC,
        )
    assert refused.value.field == "consult"
