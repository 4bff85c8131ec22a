"""The audit browser and the patient's "who accessed my record" report, through the client."""

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consult.models import Status
from consult.services import consult_list_record
from imaging.models import IngestSource, Study
from server.audit.labels import EVENT_LABELS
from server.audit.models import AuditAction, AuditEvent, AuditOutcome
from server.audit.services import audit_record
from server.directory.models import Patient
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.factories import PatientFactory

pytestmark = pytest.mark.usefixtures("built_assets")

AUDIT = reverse("web:audit")


def _admin(client: Client, world: World) -> Client:
    client.force_login(world.institution_admin)
    return client


def _read(world: World, patient: Patient | None = None) -> AuditEvent:
    patient = patient or world.patient
    return audit_record(
        user=world.clinic_doctor,
        action=AuditAction.READ,
        event="patient.view",
        actor_institution_id=world.township.pk,
        resource_type="Patient",
        resource_id=patient.pk,
        patient_id=patient.pk,
        patient_institution_id=patient.home_institution_id,
    )


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_audit_rows_say_who_did_what_to_which_resource_in_words(
    client: Client, world: World
) -> None:
    consult = make_consult(world, status=Status.SUBMITTED)
    study = Study.objects.create(
        study_instance_uid="1.2.826.0.1.3680043.10.543.1",
        institution=world.township,
        source=IngestSource.DIMSE,
        patient=world.patient,
        study_date=date(2026, 11, 2),
        modalities_in_study="CT",
        study_description="胸部平扫",
    )
    _read(world)
    for resource_type, resource_id, event in (
        ("ConsultRequest", consult.pk, "consult.view"),
        ("Study", study.pk, "imaging.study.read"),
    ):
        audit_record(
            user=world.clinic_doctor,
            action=AuditAction.READ,
            event=event,
            actor_institution_id=world.township.pk,
            resource_type=resource_type,
            resource_id=resource_id,
            patient_id=world.patient.pk,
            patient_institution_id=world.township.pk,
        )

    page = _text(_admin(client, world).get(AUDIT).content.decode())

    doctor = world.clinic_doctor.practitioner.display_name
    assert f"{doctor} 东乡卫生院 查看患者档案 成功 患者 王秀英" in page
    assert f"查看会诊 成功 会诊 #{consult.pk}" in page
    assert "调阅影像 成功 检查 2026-11-02 CT 胸部平扫" in page
    for raw in ("patient.view", "ConsultRequest", ">clinic<", "imaging.study.read"):
        assert raw not in page

    english = _text(client.get(AUDIT, HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert "Opened a patient record Success Patient 王秀英" in english


def test_audit_hides_names_of_patients_the_admin_may_not_see(client: Client, world: World) -> None:
    elsewhere = PatientFactory.create(home_institution=world.other_township, name="赵某")
    _read(world, elsewhere)
    page = _text(_admin(client, world).get(AUDIT).content.decode())
    assert f"患者 #{elsewhere.pk}" in page
    assert "赵某" not in page


def test_audit_filters_by_user_patient_event_institution_and_dates(
    client: Client, world: World
) -> None:
    other = PatientFactory.create(home_institution=world.township, name="李四")
    with time_machine.travel(timezone.now() - timedelta(days=10)):
        old = _read(world)
    mine = _read(world, other)
    by_specialist = audit_record(
        user=world.specialist,
        action=AuditAction.READ,
        event="consult.list",
        actor_institution_id=world.county.pk,
        resource_type="ConsultRequest",
        patient_id=world.patient.pk,
        patient_institution_id=world.township.pk,
    )
    _admin(client, world)

    def seqs(**params: str | int) -> list[int]:
        response = client.get(AUDIT, params)
        assert response.status_code == 200
        return [row.event.seq for row in response.context["rows"]]

    today = timezone.localdate()
    assert seqs(user=world.specialist.pk) == [by_specialist.seq]
    assert seqs(patient="李四") == [mine.seq]
    assert seqs(patient=str(world.patient.pk)) == [by_specialist.seq, old.seq]
    assert seqs(event="consult.list") == [by_specialist.seq]
    assert seqs(institution=world.county.pk) == [by_specialist.seq]
    assert seqs(date_from=today.isoformat()) == [by_specialist.seq, mine.seq]
    assert seqs(date_to=(today - timedelta(days=1)).isoformat()) == [old.seq]
    assert seqs(outcome=AuditOutcome.DENIED) == []


def test_audit_filters_are_checked_and_paged_server_side(client: Client, world: World) -> None:
    for _ in range(51):
        _read(world)
    _admin(client, world)
    bad = client.get(AUDIT, {"date_from": "2026-12-02", "date_to": "2026-12-01"})
    assert "截止日期早于起始日期" in bad.content.decode()
    assert bad.context["rows"] == []
    second = client.get(AUDIT, {"event": "patient.view", "page": "2"})
    assert len(second.context["rows"]) == 1
    assert "event=patient.view" in second.content.decode()  # the pager keeps the filter


def test_every_audited_event_has_a_label() -> None:
    # Every event code the code base writes, literal or built from the policy's actions.
    written: set[str] = set()
    code = re.compile(r'"((?:user|patient|consult|imaging)\.[a-z_.]+)"')
    for package in ("server", "consult", "imaging", "devices"):
        for path in (Path(settings.BASE_DIR) / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for line in path.read_text().splitlines():
                if "event" in line and "=" in line:
                    written.update(code.findall(line))
    from server.access import Action, ConsultAction

    written |= {f"consult.{a.value}" for a in ConsultAction}
    written |= {f"patient.{a.value}" for a in (Action.VIEW, Action.VIEW_ACCESS_LOG)}
    assert {"consult.create", "imaging.study.read"} <= written
    assert written - set(EVENT_LABELS) == set()


# --- Who accessed my record --------------------------------------------------------------------


def test_access_report_lists_who_accessed_the_patient_with_institution_role_and_reason(
    client: Client, world: World
) -> None:
    consult = make_consult(world, status=Status.SUBMITTED)
    _read(world)
    audit_record(
        user=world.specialist,
        action=AuditAction.READ,
        event="consult.view",
        actor_institution_id=world.county.pk,
        resource_type="ConsultRequest",
        resource_id=consult.pk,
        patient_id=world.patient.pk,
        patient_institution_id=world.township.pk,
    )
    denied = audit_record(
        user=world.foreign_doctor,
        action=AuditAction.READ,
        event="patient.view",
        outcome=AuditOutcome.DENIED,
        patient_id=world.patient.pk,
    )
    url = reverse("web:patient_access_log", args=[world.patient.pk])
    before = AuditEvent.objects.count()

    response = _admin(client, world).get(url)

    page = _text(response.content.decode())
    specialist = world.specialist.practitioner.display_name
    assert response.status_code == 200
    assert f"{specialist} 县医院 专科医生 查看会诊 · 会诊 #{consult.pk}" in page
    assert f"{world.clinic_doctor.practitioner.display_name} 东乡卫生院" in page
    assert world.foreign_doctor.practitioner.display_name not in page  # no access happened
    assert denied.pk
    assert "data-print" in response.content.decode()
    # Opening the report is itself one access, recorded once.
    assert list(AuditEvent.objects.order_by("seq")[before:].values_list("event", flat=True)) == [
        "patient.view_access_log"
    ]


@pytest.mark.parametrize("viewer", ["clinic_doctor", "coordinator", "specialist"])
def test_access_report_is_404_for_who_the_policy_does_not_allow(
    client: Client, world: World, viewer: str
) -> None:
    client.force_login(getattr(world, viewer))
    url = reverse("web:patient_access_log", args=[world.patient.pk])
    assert client.get(url).status_code == 404
    detail = client.get(reverse("web:patient_detail", args=[world.patient.pk]))
    assert url not in detail.content.decode()


def test_patient_page_links_the_access_report_for_the_home_admin(
    client: Client, world: World
) -> None:
    detail = _admin(client, world).get(reverse("web:patient_detail", args=[world.patient.pk]))
    assert reverse("web:patient_access_log", args=[world.patient.pk]) in detail.content.decode()


# --- One page view, one audit event -------------------------------------------------------------


def test_worklist_refresh_of_the_same_consults_is_not_audited_again(world: World) -> None:
    consult = make_consult(world, status=Status.SUBMITTED)
    shown = consult_list_record(user=world.clinic_doctor, consult_ids=[consult.pk])
    again = consult_list_record(user=world.clinic_doctor, consult_ids=[consult.pk], shown=shown)
    added = make_consult(world, status=Status.SUBMITTED)
    consult_list_record(user=world.clinic_doctor, consult_ids=[consult.pk, added.pk], shown=again)
    # Another user's token, or a forged one, counts for nothing.
    consult_list_record(user=world.specialist, consult_ids=[consult.pk], shown=again)
    consult_list_record(user=world.clinic_doctor, consult_ids=[consult.pk], shown=again + "x")

    listings = AuditEvent.objects.filter(event="consult.list").order_by("seq")
    assert [(e.actor_id, e.detail["consult_ids"]) for e in listings] == [
        (world.clinic_doctor.pk, [consult.pk]),
        (world.clinic_doctor.pk, [added.pk]),
        (world.specialist.pk, [consult.pk]),
        (world.clinic_doctor.pk, [consult.pk]),
    ]
