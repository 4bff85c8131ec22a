"""The specialist's duty switch and pending consults on the home page, and what consult
notifications say they are about."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation

from consult.models import ConsultEvent, ConsultRequest, SpecialistDuty, Status, Urgency
from consult.selectors import consults_pending_for
from consult.services import consult_submit, specialist_duty_set
from server.access import actor_for
from server.audit.models import AuditEvent
from server.directory.errors import NotAllowed
from server.notifications.models import Notification, NotificationKind
from tests.conftest import World
from tests.consult.conftest import make_consult, practitioner_of
from tests.factories import PASSWORD


def _signed_in(user_name: str, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    assert client.login(username=user_name, password=PASSWORD)
    return client


def test_specialist_goes_on_duty_from_the_home_page_form(world: World) -> None:
    client = _signed_in("specialist", csrf=True)
    home = client.get("/")
    assert b'action="/consults/duty/"' in home.content
    token = home.context["csrf_token"]

    response = client.post("/consults/duty/", {"on_duty": "on", "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert response["Location"] == "/"
    duty = SpecialistDuty.objects.get(practitioner=practitioner_of(world.specialist))
    assert duty.on_duty is True
    page = client.get("/").content.decode()
    assert 'data-on-duty="true"' in page
    assert (
        timezone.localtime(duty.changed_at, timezone.get_fixed_timezone(480)).strftime(
            "%Y-%m-%d %H:%M"
        )
        in page
    )


def test_duty_form_without_csrf_token_is_refused(world: World) -> None:
    client = _signed_in("specialist", csrf=True)
    assert client.post("/consults/duty/", {"on_duty": "on"}).status_code == 403
    assert not SpecialistDuty.objects.exists()


def test_only_specialists_may_go_on_duty(world: World) -> None:
    client = _signed_in("clinic")
    assert client.post("/consults/duty/", {"on_duty": "on"}).status_code == 403
    with pytest.raises(NotAllowed):
        specialist_duty_set(actor_user=world.coordinator, on_duty=True)
    assert not SpecialistDuty.objects.exists()
    assert b'action="/consults/duty/"' not in client.get("/").content


def test_going_on_duty_again_keeps_the_time_duty_began(world: World) -> None:
    first = specialist_duty_set(actor_user=world.specialist, on_duty=True)
    again = specialist_duty_set(actor_user=world.specialist, on_duty=True)
    assert again.changed_at == first.changed_at
    off = specialist_duty_set(actor_user=world.specialist, on_duty=False)
    assert (off.on_duty, off.changed_at > first.changed_at) == (False, True)


def _assigned(world: World, *, urgency: Urgency, submitted_ago: timedelta) -> ConsultRequest:
    consult = make_consult(world, Status.ASSIGNED, urgency=urgency)
    at = timezone.now() - submitted_ago
    ConsultEvent.objects.create(
        consult=consult, from_status=Status.DRAFT, to_status=Status.SUBMITTED, at=at
    )
    ConsultEvent.objects.create(
        consult=consult, from_status=Status.SUBMITTED, to_status=Status.ASSIGNED, at=at
    )
    return consult


def test_pending_consults_come_by_urgency_then_nearest_deadline(world: World) -> None:
    routine = _assigned(world, urgency=Urgency.ROUTINE, submitted_ago=timedelta(hours=20))
    urgent_late = _assigned(world, urgency=Urgency.URGENT, submitted_ago=timedelta(minutes=5))
    urgent_soon = _assigned(world, urgency=Urgency.URGENT, submitted_ago=timedelta(hours=1))
    critical = _assigned(world, urgency=Urgency.CRITICAL, submitted_ago=timedelta(minutes=1))
    signed = make_consult(world, Status.OPINION_SIGNED)  # nothing left for the specialist

    pending = consults_pending_for(actor=actor_for(world.specialist))  # type: ignore[arg-type]  # a practitioner

    assert [p.consult.pk for p in pending] == [
        critical.pk,
        urgent_soon.pk,
        urgent_late.pk,
        routine.pk,
    ]
    assert signed.pk not in {p.consult.pk for p in pending}
    assert all(p.accepting and p.deadline is not None for p in pending)


def test_home_lists_pending_consults_with_links_and_audits_the_listing(world: World) -> None:
    consult = _assigned(world, urgency=Urgency.URGENT, submitted_ago=timedelta(minutes=5))
    page = _signed_in("specialist").get("/").content.decode()
    assert f'href="/consults/{consult.pk}/"' in page
    assert world.patient.name in page
    assert world.township.name in page
    listing = AuditEvent.objects.filter(actor_id=world.specialist.pk, event="consult.list").last()
    assert listing is not None
    assert listing.detail == {"consult_ids": [consult.pk]}


def test_home_says_in_words_when_nothing_is_pending(world: World) -> None:
    page = _signed_in("specialist").get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No consults are waiting for you." in page


def test_assignment_notification_names_patient_urgency_and_requester(world: World) -> None:
    consult = make_consult(world, urgency=Urgency.URGENT)
    consult_submit(consult_id=consult.pk, actor_user=world.clinic_doctor)
    notification = Notification.objects.get(
        recipient=world.specialist, kind=NotificationKind.CONSULT_ASSIGNED
    )
    requester = practitioner_of(world.clinic_doctor).display_name
    with translation.override("zh-hans"):
        assert notification.subject_text == (
            f"{world.patient.name} · 急 · {world.township.name} {requester}"
        )
    with translation.override("en"):
        assert "Urgent" in notification.subject_text
    page = _signed_in("specialist").get("/notifications/").content.decode()
    assert world.patient.name in page
