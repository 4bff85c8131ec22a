"""Editing a draft request: the service, the API's PATCH and the edit page."""

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from consult.errors import ConsultError, NotEditable
from consult.models import ConsultRequest, Status, TargetKind, Urgency
from consult.services import consult_draft_update
from server.access import NotFound
from server.accounts.models import User
from server.audit.models import AuditEvent
from server.directory.errors import NotAllowed
from server.directory.models import Title
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult, practitioner_of
from tests.factories import DepartmentFactory, PatientFactory
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name below

# --- Service ------------------------------------------------------------------------------------


def test_draft_update_changes_fields_and_audits_their_names(world: World) -> None:
    consult = make_consult(world)

    consult_draft_update(
        actor_user=world.clinic_doctor,
        consult_id=consult.pk,
        reason=" 胸痛加重 ",
        urgency=Urgency.ROUTINE,
    )

    consult.refresh_from_db()
    assert (consult.reason, consult.urgency, consult.purpose) == ("胸痛加重", "routine", "明确诊断")
    event = AuditEvent.objects.get(event="consult.draft_update")
    assert event.detail == {"fields": ["reason", "urgency"]}
    assert event.resource_id == str(consult.pk)


def test_draft_update_retargets_to_a_department(world: World) -> None:
    department = DepartmentFactory.create(institution=world.county)
    consult = make_consult(world)

    consult_draft_update(
        actor_user=world.clinic_doctor,
        consult_id=consult.pk,
        target_kind=TargetKind.DEPARTMENT,
        target_department_id=department.pk,
    )

    consult.refresh_from_db()
    assert (consult.target_department_id, consult.target_practitioner_id) == (department.pk, None)


def test_draft_update_checks_the_named_specialist_like_creation(world: World) -> None:
    junior = add_specialist(world, "junior", title=Title.RESIDENT)
    consult = make_consult(world)

    with pytest.raises(ConsultError) as refused:
        consult_draft_update(
            actor_user=world.clinic_doctor,
            consult_id=consult.pk,
            target_practitioner_id=junior.pk,
        )

    assert refused.value.field == "target_practitioner_id"
    consult.refresh_from_db()
    assert consult.target_practitioner_id == practitioner_of(world.specialist).pk


def test_draft_update_refuses_a_window_that_ends_before_it_starts(world: World) -> None:
    consult = make_consult(world)

    with pytest.raises(ConsultError) as refused:
        consult_draft_update(
            actor_user=world.clinic_doctor,
            consult_id=consult.pk,
            preferred_start=datetime(2026, 12, 2, tzinfo=UTC),
            preferred_end=datetime(2026, 12, 1, tzinfo=UTC),
        )

    assert refused.value.field == "preferred_end"


def test_draft_update_refuses_another_patient(world: World) -> None:
    other = PatientFactory.create(home_institution=world.township)
    consult = make_consult(world)

    with pytest.raises(ConsultError) as refused:
        consult_draft_update(
            actor_user=world.clinic_doctor, consult_id=consult.pk, patient_id=other.pk
        )

    assert refused.value.field == "patient_id"


def test_draft_update_refuses_a_submitted_consult(world: World) -> None:
    consult = make_consult(world, Status.SUBMITTED)

    with pytest.raises(NotEditable):
        consult_draft_update(actor_user=world.clinic_doctor, consult_id=consult.pk, reason="x")


def test_draft_update_refuses_a_colleague_who_sees_the_draft(world: World) -> None:
    consult = make_consult(world)

    with pytest.raises(NotAllowed):
        consult_draft_update(actor_user=world.coordinator, consult_id=consult.pk, reason="x")


def test_draft_update_hides_the_draft_from_strangers(world: World) -> None:
    consult = make_consult(world)

    with pytest.raises(NotFound):
        consult_draft_update(
            actor_user=world.other_clinic_doctor, consult_id=consult.pk, reason="x"
        )


# --- API ----------------------------------------------------------------------------------------


def _api(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def test_api_patch_updates_a_draft(client: Client, world: World) -> None:
    consult = make_consult(world)

    response = _api(client, world.clinic_doctor).patch(
        f"/api/v1/consults/{consult.pk}/",
        {"purpose": "排除肿瘤", "minimum_title": "chief"},
        content_type="application/json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["consult"]["purpose"] == "排除肿瘤"
    consult.refresh_from_db()
    assert (consult.purpose, consult.minimum_title, consult.reason) == (
        "排除肿瘤",
        "chief",
        "反复胸痛",
    )


def test_api_patch_names_bad_and_unknown_fields(client: Client, world: World) -> None:
    consult = make_consult(world)

    response = _api(client, world.clinic_doctor).patch(
        f"/api/v1/consults/{consult.pk}/",
        {"urgency": "whenever", "status": "closed"},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"status"}
    response = client.patch(
        f"/api/v1/consults/{consult.pk}/", {"urgency": "whenever"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"urgency"}
    consult.refresh_from_db()
    assert consult.status == Status.DRAFT


def test_api_patch_names_the_field_the_rules_refuse(client: Client, world: World) -> None:
    consult = make_consult(world)

    response = _api(client, world.clinic_doctor).patch(
        f"/api/v1/consults/{consult.pk}/",
        {"emergency_waiver": True, "waiver_reason": "昏迷", "urgency": "routine"},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"emergency_waiver"}


def test_api_patch_of_a_submitted_consult_is_409(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)

    response = _api(client, world.clinic_doctor).patch(
        f"/api/v1/consults/{consult.pk}/", {"reason": "改"}, content_type="application/json"
    )

    assert response.status_code == 409
    consult.refresh_from_db()
    assert consult.reason == "反复胸痛"


def test_api_patch_is_404_for_strangers_and_403_for_colleagues(
    client: Client, world: World
) -> None:
    consult = make_consult(world)

    stranger = _api(Client(), world.other_clinic_doctor).patch(
        f"/api/v1/consults/{consult.pk}/", {"reason": "改"}, content_type="application/json"
    )
    colleague = _api(client, world.coordinator).patch(
        f"/api/v1/consults/{consult.pk}/", {"reason": "改"}, content_type="application/json"
    )

    assert (stranger.status_code, colleague.status_code) == (404, 403)
    consult.refresh_from_db()
    assert consult.reason == "反复胸痛"


# --- Page ---------------------------------------------------------------------------------------


def _page(client: Client, user: User) -> Client:
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _form(world: World, **overrides: str) -> dict[str, str]:
    form = {
        "kind": "consult",
        "mode": "offline",
        "urgency": "urgent",
        "reason": "反复胸痛两周",
        "purpose": "明确诊断",
        "clinical_summary": "胸片示右下肺阴影",
        "wanted_specialty": "radiology",
        "minimum_title": "attending",
        "target_kind": "specialist",
        "target_practitioner": str(practitioner_of(world.specialist).pk),
        "consent_signer": "王秀英",
        "consent_relation": "self",
        "consent_method": "electronic",
    }
    form.update(overrides)
    return form


def _edit(consult: ConsultRequest) -> str:
    return reverse("consults:edit", kwargs={"consult_id": consult.pk})


@pytest.mark.usefixtures("built_assets")
def test_edit_page_is_filled_in_and_saves_the_draft(client: Client, world: World) -> None:
    consult = make_consult(world)
    page = _page(client, world.clinic_doctor)

    shown = page.get(_edit(consult))
    saved = page.post(_edit(consult), _form(world, reason="胸痛三周"))

    assert shown.status_code == 200
    assert "反复胸痛" in shown.content.decode()
    assert shown.context["form"].fields["patient"].disabled
    assert saved["Location"] == reverse("consults:detail", kwargs={"consult_id": consult.pk})
    consult.refresh_from_db()
    assert consult.reason == "胸痛三周"


@pytest.mark.usefixtures("built_assets")
def test_edit_page_shows_the_refusal_in_words(client: Client, world: World) -> None:
    consult = make_consult(world)

    response = _page(client, world.clinic_doctor).post(
        _edit(consult), _form(world, emergency_waiver="on", waiver_reason="昏迷", urgency="routine")
    )

    assert response.status_code == 200
    assert "Consent can be waived only for critical or urgent consults." in (
        response.content.decode()
    )


@pytest.mark.usefixtures("built_assets")
def test_detail_links_the_edit_page_for_the_requester_only(client: Client, world: World) -> None:
    consult = make_consult(world)

    requester = _page(client, world.clinic_doctor).get(
        reverse("consults:detail", kwargs={"consult_id": consult.pk})
    )
    coordinator = _page(Client(), world.coordinator).get(
        reverse("consults:detail", kwargs={"consult_id": consult.pk})
    )

    assert _edit(consult) in requester.content.decode()
    assert _edit(consult) not in coordinator.content.decode()


@pytest.mark.usefixtures("built_assets")
def test_edit_page_is_404_for_strangers_and_403_for_colleagues(
    client: Client, world: World
) -> None:
    consult = make_consult(world)

    stranger = _page(Client(), world.other_clinic_doctor).get(_edit(consult))
    colleague = _page(client, world.coordinator).post(_edit(consult), _form(world))

    assert (stranger.status_code, colleague.status_code) == (404, 403)
    assert "Only the requesting doctor may edit the draft." in colleague.content.decode()


@pytest.mark.usefixtures("built_assets")
def test_edit_page_of_a_sent_request_says_so(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)

    response = _page(client, world.clinic_doctor).get(_edit(consult), follow=True)

    assert "Only a draft can be edited; this request has been sent." in (response.content.decode())
