"""The audit trail: what gets written, that it cannot be changed, and that tampering is caught."""

from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import Client

from server.audit.context import client_address
from server.audit.models import AuditAction, AuditEvent, AuditOutcome
from server.audit.services import audit_record, audit_verify_and_alert
from server.directory.services import patient_register
from server.notifications.models import Notification, NotificationKind
from tests.conftest import World
from tests.factories import PASSWORD


def _tamper(sql: str, params: list[str | int]) -> None:
    """Change the trail the way someone with database access would, past the guard trigger."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")


def _three_events(world: World) -> list[AuditEvent]:
    return [
        audit_record(user=world.clinic_doctor, action=AuditAction.READ, event=f"test.{n}")
        for n in range(3)
    ]


def test_patient_read_through_api_is_audited_with_client_address(world: World) -> None:
    client = Client(REMOTE_ADDR="10.1.2.3")
    client.login(username="clinic", password=PASSWORD)
    response = client.get(f"/api/v1/patients/{world.patient.pk}/")
    assert response.status_code == 200
    event = AuditEvent.objects.get(event="patient.view")
    assert (event.action, event.outcome) == (AuditAction.READ, AuditOutcome.SUCCESS)
    assert event.actor_id == world.clinic_doctor.pk
    assert event.actor_institution_id == world.township.pk
    assert (event.resource_type, event.resource_id) == ("Patient", str(world.patient.pk))
    assert event.patient_id == world.patient.pk
    assert event.patient_institution_id == world.township.pk
    assert event.client_address == "10.1.2.3"


def test_denied_read_through_api_is_audited_and_answers_404(world: World) -> None:
    client = Client()
    client.login(username="other_clinic", password=PASSWORD)
    response = client.get(f"/api/v1/patients/{world.patient.pk}/")
    assert response.status_code == 404
    event = AuditEvent.objects.get(event="patient.view")
    assert event.outcome == AuditOutcome.DENIED
    assert event.actor_id == world.other_clinic_doctor.pk


def test_patient_listing_is_audited_with_the_ids_shown(world: World) -> None:
    client = Client()
    client.login(username="clinic", password=PASSWORD)
    assert client.get("/api/v1/patients/").status_code == 200
    event = AuditEvent.objects.get(event="patient.search")
    assert event.detail["patient_ids"] == [world.patient.pk]


def test_registration_is_audited_as_a_create(world: World) -> None:
    registration = patient_register(
        user=world.clinic_doctor, name="赵四", sex="male", birth_date=date(1970, 1, 1)
    )
    event = AuditEvent.objects.get(event="patient.register")
    assert event.action == AuditAction.CREATE
    assert event.patient_id == registration.patient.pk


def test_events_are_chained_in_order(world: World) -> None:
    first, second, third = _three_events(world)
    assert (first.seq + 1, first.seq + 2) == (second.seq, third.seq)
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash


def test_client_address_comes_from_the_context(world: World) -> None:
    token = client_address.set("192.0.2.7")
    try:
        event = audit_record(user=None, action=AuditAction.EXECUTE, event="test.system")
    finally:
        client_address.reset(token)
    assert (event.client_address, event.actor_id) == ("192.0.2.7", None)


def test_events_cannot_be_updated_or_deleted_through_the_app(world: World) -> None:
    event, *_ = _three_events(world)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(event="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    event.refresh_from_db()
    assert event.event == "test.0"


def test_audit_verify_passes_on_an_intact_trail(world: World) -> None:
    _three_events(world)
    call_command("audit_verify")


def test_audit_verify_catches_an_altered_row(world: World) -> None:
    _, middle, _ = _three_events(world)
    _tamper("UPDATE audit_auditevent SET actor_username = 'nobody' WHERE id = %s", [middle.pk])
    with pytest.raises(CommandError, match="broken"):
        call_command("audit_verify")


def test_audit_verify_catches_an_altered_row_with_a_recomputed_hash(world: World) -> None:
    _, middle, _ = _three_events(world)
    _tamper(
        "UPDATE audit_auditevent SET outcome = '0', hash = %s WHERE id = %s",
        ["f" * 64, middle.pk],
    )
    with pytest.raises(CommandError, match="broken"):
        call_command("audit_verify")


def test_audit_verify_catches_a_deleted_row(world: World) -> None:
    _, middle, _ = _three_events(world)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [middle.pk])
    with pytest.raises(CommandError, match="broken"):
        call_command("audit_verify")


def test_audit_verify_catches_a_removed_tail(world: World) -> None:
    *_, last = _three_events(world)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [last.pk])
    with pytest.raises(CommandError, match="broken"):
        call_command("audit_verify")


def test_broken_chain_alerts_institution_admins(world: World) -> None:
    _, middle, _ = _three_events(world)
    _tamper("UPDATE audit_auditevent SET detail = '{}' , event = 'x' WHERE id = %s", [middle.pk])
    assert audit_verify_and_alert() >= 1
    alerted = Notification.objects.filter(kind=NotificationKind.AUDIT_CHAIN_BROKEN)
    assert list(alerted.values_list("recipient_id", flat=True)) == [world.institution_admin.pk]
