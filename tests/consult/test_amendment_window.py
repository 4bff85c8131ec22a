"""After a consult closes, its signer alone keeps reading it, its studies and its patient, and
may amend the opinion, for CONSULT_AMENDMENT_DAYS; then nobody on the invited side does."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from consult.models import ConsultParticipant, ConsultRequest, Disposition, Kind, Status
from consult.services import (
    OpinionSections,
    consult_acknowledge,
    consult_grants_sync,
    consult_start_review,
    consult_study_attach,
    opinion_draft_save,
    opinion_sign,
)
from imaging.models import IngestSource, Study
from imaging.services import instance_ingest
from server.access import NotFound
from server.accounts.models import User
from server.audit.models import AuditEvent, AuditOutcome
from server.directory.models import AccessGrant, Role
from server.notifications.models import Notification, NotificationKind
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult
from tests.factories import PASSWORD, PractitionerFactory
from tests.imaging.conftest import for_patient

pytestmark = pytest.mark.usefixtures("archive")

SECTIONS = OpinionSections(
    findings="右下肺片状影",
    impression="社区获得性肺炎",
    recommendations="抗感染治疗",
    referral_advised=False,
    follow_up_advice="一周后复查胸片",
)
AMEND = "修订会诊意见"


@dataclass
class Closed:
    consult: ConsultRequest
    study: Study
    colleague: User  # a specialist of the signer's hospital who took no part


def _client(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def closed(world: World) -> Closed:
    world.patient.health_card_number = "HC-0001"
    world.patient.save(update_fields=["health_card_number"])
    consult = make_consult(world, Status.ACCEPTED)
    uid = "1.2.826.0.1.3680043.8.498.77"
    result = instance_ingest(
        data=for_patient("CT_small.dcm", world.patient, StudyInstanceUID=uid),
        source=IngestSource.STOW,
        institution=world.township,
        user=world.clinic_doctor,
    )
    assert result.ok, result.message
    consult_study_attach(
        consult_id=consult.pk, actor_user=world.clinic_doctor, study_instance_uid=uid
    )
    consult_start_review(consult_id=consult.pk, actor_user=world.specialist)
    opinion_draft_save(consult_id=consult.pk, actor_user=world.specialist, sections=SECTIONS)
    opinion_sign(consult_id=consult.pk, actor_user=world.specialist, password=PASSWORD)
    consult_acknowledge(
        consult_id=consult.pk,
        actor_user=world.clinic_doctor,
        disposition=Disposition.ADOPTED,
        next_steps="门诊治疗",
    )
    consult.refresh_from_db()
    assert consult.status == Status.CLOSED
    colleague = PractitionerFactory.create(
        institution=world.county, role_list=[Role.SPECIALIST]
    ).user
    return Closed(
        consult=consult, study=Study.objects.get(study_instance_uid=uid), colleague=colleague
    )


def _pages(closed: Closed, world: World) -> dict[str, str]:
    uid = closed.study.study_instance_uid
    return {
        "consult": f"/consults/{closed.consult.pk}/",
        "images": f"/imaging/studies/{uid}/view/",
        "patient": f"/patients/{world.patient.pk}/",
        "amend": f"/consults/{closed.consult.pk}/opinion/edit/",
    }


def test_signer_reads_images_and_patient_and_may_amend_inside_the_window(
    world: World, closed: Closed
) -> None:
    signer = _client(world.specialist)
    pages = _pages(closed, world)
    detail = signer.get(pages["consult"])
    assert detail.status_code == 200
    assert AMEND in detail.content.decode()
    assert f'href="{pages["images"]}"' in detail.content.decode()
    for name in ("images", "patient", "amend"):
        assert signer.get(pages[name]).status_code == 200, name
    # Read as any read is: the patient page's read is in the audit trail, as a success.
    assert AuditEvent.objects.filter(
        actor_id=world.specialist.pk,
        patient_id=world.patient.pk,
        outcome=AuditOutcome.SUCCESS,
        resource_type="Patient",
    ).exists()
    draft = opinion_draft_save(
        consult_id=closed.consult.pk,
        actor_user=world.specialist,
        sections=SECTIONS,
        amendment_reason="补充随访建议",
    )
    assert draft.number == 2


def test_nobody_else_of_the_signers_hospital_reads_the_closed_consult(
    world: World, closed: Closed
) -> None:
    colleague = _client(closed.colleague)
    for name, url in _pages(closed, world).items():
        assert colleague.get(url).status_code == 404, name


def test_after_the_window_the_signer_gets_404_and_no_amendment(
    world: World, closed: Closed
) -> None:
    pages = _pages(closed, world)
    with time_machine.travel(timezone.now() + timedelta(days=30, minutes=1), tick=False):
        signer = _client(world.specialist)  # signed in then: sessions end sooner
        for name, url in pages.items():
            assert signer.get(url).status_code == 404, name
        with pytest.raises(NotFound):
            opinion_draft_save(
                consult_id=closed.consult.pk,
                actor_user=world.specialist,
                sections=SECTIONS,
                amendment_reason="补充随访建议",
            )
        # The requester's side keeps the consult and its opinion.
        assert _client(world.clinic_doctor).get(pages["consult"]).status_code == 200


def test_the_window_is_read_from_settings_when_the_consult_closes(
    world: World, settings: object
) -> None:
    settings.CONSULT_AMENDMENT_DAYS = 3  # type: ignore[attr-defined]  # pytest-django settings
    consult = make_consult(world, Status.OPINION_SIGNED)
    before = timezone.now()
    consult_acknowledge(
        consult_id=consult.pk,
        actor_user=world.clinic_doctor,
        disposition=Disposition.ADOPTED,
        next_steps="",
    )
    grants = AccessGrant.objects.filter(source_type="consult", source_id=str(consult.pk))
    kept = grants.get(user__isnull=False)
    assert kept.user_id == world.specialist.pk
    assert kept.ends_at is not None
    assert before + timedelta(days=3) <= kept.ends_at <= timezone.now() + timedelta(days=3)
    assert all(g.ends_at <= timezone.now() for g in grants if g.user_id is None)
    with time_machine.travel(timezone.now() + timedelta(days=3, minutes=1), tick=False):
        assert _client(world.specialist).get(f"/consults/{consult.pk}/").status_code == 404


def test_closing_tells_the_signer_not_the_mdt_members_who_lose_the_consult(
    world: World,
) -> None:
    consult = make_consult(world, Status.OPINION_SIGNED, kind=Kind.MDT)
    member = add_specialist(world, "member")
    ConsultParticipant.objects.create(consult=consult, practitioner=member, is_lead=False)
    consult_grants_sync(consult=consult)  # as assigning them would
    consult_acknowledge(
        consult_id=consult.pk,
        actor_user=world.clinic_doctor,
        disposition=Disposition.ADOPTED,
        next_steps="",
    )
    told = set(
        Notification.objects.filter(kind=NotificationKind.CONSULT_ACKNOWLEDGED).values_list(
            "recipient_id", flat=True
        )
    )
    assert told == {world.specialist.pk}
    assert _client(member.user).get(f"/consults/{consult.pk}/").status_code == 404
    assert _client(world.specialist).get(f"/consults/{consult.pk}/").status_code == 200
