"""The consult pages through the test client: who sees what, and forms that call the services."""

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from consult.models import (
    ConsultEvent,
    ConsultParticipant,
    ConsultRequest,
    Disposition,
    Kind,
    OpinionContribution,
    OpinionVersion,
    Status,
)
from consult.services import consult_grants_sync, opinion_version_intact
from server.accounts.models import User
from server.audit.models import AuditEvent, AuditOutcome
from tests.conftest import World
from tests.consult.conftest import add_specialist, make_consult, practitioner_of
from tests.factories import PASSWORD, PatientFactory
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name below

pytestmark = pytest.mark.usefixtures("built_assets")


def _signed_in(client: Client, user: User) -> Client:
    """The client signed in as `user`, reading the pages in English (the default is Chinese)."""
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _detail(consult: ConsultRequest) -> str:
    return reverse("consults:detail", kwargs={"consult_id": consult.pk})


def _act(consult: ConsultRequest, action: str) -> str:
    return reverse("consults:act", kwargs={"consult_id": consult.pk, "action": action})


def _request_form(world: World, **overrides: str) -> dict[str, str]:
    form = {
        "patient": str(world.patient.pk),
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


# --- Worklists ----------------------------------------------------------------------------------


def test_worklist_shows_specialist_their_incoming_consult(client: Client, world: World) -> None:
    make_consult(world, Status.ASSIGNED)

    response = _signed_in(client, world.specialist).get(reverse("consults:worklist"))

    assert response.status_code == 200
    assert "consult/worklist.html" in [t.name for t in response.templates]
    assert world.patient.name in response.content.decode()


def test_worklist_shows_requester_their_requests(client: Client, world: World) -> None:
    make_consult(world, Status.SUBMITTED)

    response = _signed_in(client, world.clinic_doctor).get(reverse("consults:worklist"))

    assert response.context["current"] == "my_requests"
    assert [c.patient_id for c in response.context["consults"]] == [world.patient.pk]


def test_worklist_of_unrelated_township_doctor_is_empty(client: Client, world: World) -> None:
    make_consult(world, Status.ASSIGNED)

    response = _signed_in(client, world.other_clinic_doctor).get(reverse("consults:worklist"))

    assert response.context["consults"] == []
    assert world.patient.name not in response.content.decode()


def test_overdue_board_empty_state_for_coordinator(client: Client, world: World) -> None:
    response = _signed_in(client, world.coordinator).get(reverse("consults:worklist"))

    assert response.context["current"] == "overdue"
    assert "No consult has missed a deadline." in response.content.decode()


def test_worklist_fragment_renders_only_the_list(client: Client, world: World) -> None:
    make_consult(world, Status.ASSIGNED)

    response = _signed_in(client, world.specialist).get(
        reverse("consults:worklist"), {"list": "incoming", "fragment": "1"}
    )

    assert response.templates[0].name == "consult/_worklist.html"
    assert "<html" not in response.content.decode()


def test_worklist_paginates(client: Client, world: World) -> None:
    for _ in range(21):
        make_consult(world, Status.SUBMITTED)

    response = _signed_in(client, world.clinic_doctor).get(
        reverse("consults:worklist"), {"page": "2"}
    )

    assert len(response.context["consults"]) == 1
    assert response.context["pager"].num_pages == 2


# --- Request form ------------------------------------------------------------------------------


def test_request_form_offers_only_patients_the_doctor_may_see(client: Client, world: World) -> None:
    hidden = PatientFactory.create(home_institution=world.other_township, name="赵某某")

    response = _signed_in(client, world.clinic_doctor).get(reverse("consults:new"))

    patients = list(response.context["form"].fields["patient"].queryset)
    assert world.patient in patients
    assert hidden not in patients


def test_request_form_saves_draft_and_redirects_to_it(client: Client, world: World) -> None:
    response = _signed_in(client, world.clinic_doctor).post(
        reverse("consults:new"), _request_form(world)
    )

    consult = ConsultRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _detail(consult)
    assert (consult.status, consult.reason) == (Status.DRAFT, "反复胸痛两周")


def test_request_form_shows_missing_fields(client: Client, world: World) -> None:
    response = _signed_in(client, world.clinic_doctor).post(
        reverse("consults:new"), _request_form(world, reason="", target_practitioner="")
    )

    assert response.status_code == 200
    assert response.context["form"].errors.keys() >= {"reason", "target_practitioner"}
    assert not ConsultRequest.objects.exists()


def test_request_form_shows_service_refusal_in_words(client: Client, world: World) -> None:
    response = _signed_in(client, world.clinic_doctor).post(
        reverse("consults:new"),
        _request_form(world, urgency="routine", emergency_waiver="on", waiver_reason="昏迷"),
    )

    assert response.status_code == 200
    assert "Consent can be waived only for critical or urgent consults." in str(
        response.context["form"].errors
    )


# --- Detail and actions ------------------------------------------------------------------------


def test_detail_renders_for_requester_with_submit_button(client: Client, world: World) -> None:
    consult = make_consult(world)

    response = _signed_in(client, world.clinic_doctor).get(_detail(consult))

    assert response.status_code == 200
    assert response.context["actions"] >= {"submit", "cancel", "attach"}
    assert _act(consult, "submit") in response.content.decode()


def test_detail_is_404_for_unrelated_township_doctor(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)

    response = _signed_in(client, world.other_clinic_doctor).get(_detail(consult))

    assert response.status_code == 404


def test_detail_shows_specialist_accept_but_not_requester(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)

    specialist = _signed_in(client, world.specialist).get(_detail(consult))
    requester = _signed_in(Client(), world.clinic_doctor)
    as_requester = requester.get(_detail(consult))

    assert "accept" in specialist.context["actions"]
    assert "accept" not in as_requester.context["actions"]
    assert _act(consult, "accept") not in as_requester.content.decode()


def test_submit_routes_to_named_specialist(client: Client, world: World) -> None:
    consult = make_consult(world)

    response = _signed_in(client, world.clinic_doctor).post(_act(consult, "submit"))

    consult.refresh_from_db()
    assert response["Location"] == _detail(consult)
    assert consult.status == Status.ASSIGNED


def test_decline_without_reason_shows_error_and_changes_nothing(
    client: Client, world: World
) -> None:
    consult = make_consult(world, Status.ASSIGNED)

    response = _signed_in(client, world.specialist).post(
        _act(consult, "decline"),
        {"decline-reason_code": "unavailable", "decline-reason": ""},
        follow=True,
    )

    consult.refresh_from_db()
    assert consult.status == Status.ASSIGNED
    assert "Explanation: This field is required." in response.content.decode()


def test_decline_with_reason_sends_back_to_routing(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)

    _signed_in(client, world.specialist).post(
        _act(consult, "decline"), {"decline-reason_code": "unavailable", "decline-reason": "出差"}
    )

    event = ConsultEvent.objects.get(consult=consult, to_status=Status.DECLINED)
    assert (event.reason_code, event.reason) == ("unavailable", "出差")


def test_requester_cannot_accept_and_is_told_so(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)

    response = _signed_in(client, world.clinic_doctor).post(_act(consult, "accept"), follow=True)

    consult.refresh_from_db()
    assert consult.status == Status.ASSIGNED
    assert "You may not make this change to the consult." in response.content.decode()


def test_unknown_action_is_404(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)

    response = _signed_in(client, world.specialist).post(_act(consult, "teleport"))

    assert response.status_code == 404


def test_request_info_and_answer_round_trip(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ACCEPTED)
    _signed_in(client, world.specialist).post(
        _act(consult, "request_info"), {"question-reason": "血常规?"}
    )
    requester = _signed_in(Client(), world.clinic_doctor)

    page = requester.get(_detail(consult))
    requester.post(_act(consult, "answer_info"), {"answer-reason": "WBC 12"})

    assert "血常规?" in page.content.decode()
    consult.refresh_from_db()
    assert consult.status == Status.ACCEPTED


# --- Opinion -----------------------------------------------------------------------------------


def _opinion_form(**overrides: str) -> dict[str, str]:
    form = {
        "findings": "右下肺斑片影",
        "impression": "右下肺炎",
        "recommendations": "抗感染治疗",
        "follow_up_advice": "两周后复查胸片",
    }
    form.update(overrides)
    return form


def test_opinion_editor_is_404_for_requester(client: Client, world: World) -> None:
    consult = make_consult(world, Status.UNDER_REVIEW)

    response = _signed_in(client, world.clinic_doctor).get(
        reverse("consults:opinion_edit", kwargs={"consult_id": consult.pk})
    )

    assert response.status_code == 404


def test_opinion_sign_with_wrong_password_shows_error(client: Client, world: World) -> None:
    consult = make_consult(world, Status.UNDER_REVIEW)
    edit = reverse("consults:opinion_edit", kwargs={"consult_id": consult.pk})
    _signed_in(client, world.specialist).post(edit, _opinion_form())

    response = client.post(
        reverse("consults:opinion_sign", kwargs={"consult_id": consult.pk}),
        {"password": "wrong"},
        follow=True,
    )

    assert "The password is not correct." in response.content.decode()
    assert not OpinionVersion.objects.filter(signed_at__isnull=False).exists()


def test_opinion_sign_by_a_junior_doctor_says_why_not_the_password(
    client: Client, world: World
) -> None:
    consult = make_consult(world, Status.UNDER_REVIEW)
    specialist = practitioner_of(world.specialist)
    specialist.independent_practice_since = None  # no years of independent practice
    specialist.save()

    response = _signed_in(client, world.specialist).post(
        reverse("consults:opinion_sign", kwargs={"consult_id": consult.pk}),
        {**_opinion_form(), "password": PASSWORD},
    )

    text = response.content.decode()
    assert "years of independent practice." in text
    assert "The password is not correct." not in text
    assert not OpinionVersion.objects.filter(signed_at__isnull=False).exists()


def test_signing_signs_the_fields_on_screen_without_saving_first(
    client: Client, world: World
) -> None:
    consult = make_consult(world, Status.UNDER_REVIEW)
    edit = reverse("consults:opinion_edit", kwargs={"consult_id": consult.pk})
    _signed_in(client, world.specialist).post(edit, _opinion_form(impression="", findings=""))

    response = client.post(
        reverse("consults:opinion_sign", kwargs={"consult_id": consult.pk}),
        {**_opinion_form(), "password": PASSWORD},
    )

    assert response.status_code == 302
    version = OpinionVersion.objects.get()
    assert (version.impression, version.findings) == ("右下肺炎", "右下肺斑片影")
    assert version.signed_at is not None
    assert opinion_version_intact(version)


def test_a_refused_signature_shows_the_typed_fields_and_keeps_them_as_the_draft(
    client: Client, world: World
) -> None:
    consult = make_consult(world, Status.UNDER_REVIEW)

    response = _signed_in(client, world.specialist).post(
        reverse("consults:opinion_sign", kwargs={"consult_id": consult.pk}),
        {**_opinion_form(recommendations="抗感染治疗，三天后评估"), "password": "wrong"},  # noqa: RUF001
    )

    assert response.status_code == 200
    text = response.content.decode()
    assert "The password is not correct." in text
    assert "抗感染治疗，三天后评估" in text  # noqa: RUF001
    assert "两周后复查胸片" in text
    draft = OpinionVersion.objects.get()
    assert (draft.recommendations, draft.signed_at) == ("抗感染治疗，三天后评估", None)  # noqa: RUF001


def test_opinion_saved_signed_and_shown_with_label_and_hash(client: Client, world: World) -> None:
    consult = make_consult(world, Status.UNDER_REVIEW)
    edit = reverse("consults:opinion_edit", kwargs={"consult_id": consult.pk})
    _signed_in(client, world.specialist).post(edit, _opinion_form())

    response = client.post(
        reverse("consults:opinion_sign", kwargs={"consult_id": consult.pk}),
        {"password": PASSWORD},
    )
    page = client.get(response["Location"])

    version = OpinionVersion.objects.get()
    consult.refresh_from_db()
    assert consult.status == Status.OPINION_SIGNED
    assert opinion_version_intact(version)
    text = page.content.decode()
    assert "会诊意见（供参考）" in text  # noqa: RUF001 - the label's fullwidth brackets
    assert version.content_sha256 in text
    assert f"/api/v1/consults/{consult.pk}/opinion/pdf/" in text


def test_opinion_view_is_404_before_signing(client: Client, world: World) -> None:
    consult = make_consult(world, Status.UNDER_REVIEW)

    response = _signed_in(client, world.clinic_doctor).get(
        reverse("consults:opinion", kwargs={"consult_id": consult.pk})
    )

    assert response.status_code == 404


def test_requester_acknowledges_signed_opinion(client: Client, world: World) -> None:
    consult = make_consult(world, Status.OPINION_SIGNED)
    page = _signed_in(client, world.clinic_doctor).get(
        reverse("consults:opinion", kwargs={"consult_id": consult.pk})
    )

    response = client.post(
        _act(consult, "acknowledge"), {"disposition": "partly", "next_steps": "转县医院"}
    )

    assert "acknowledge" in page.context["actions"]
    consult.refresh_from_db()
    assert response.status_code == 302
    assert (consult.status, consult.disposition) == (Status.CLOSED, Disposition.PARTLY)


def test_amendment_needs_a_reason(client: Client, world: World) -> None:
    consult = make_consult(world, Status.OPINION_SIGNED)
    edit = reverse("consults:opinion_edit", kwargs={"consult_id": consult.pk})

    response = _signed_in(client, world.specialist).post(edit, _opinion_form())

    assert response.status_code == 200
    assert "The opinion is signed; say why you amend it." in response.content.decode()


def test_detail_reads_are_audited_allowed_or_not(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)
    _signed_in(client, world.specialist).get(_detail(consult))
    _signed_in(Client(), world.other_clinic_doctor).get(_detail(consult))

    outcomes = set(
        AuditEvent.objects.filter(event="consult.view", resource_id=str(consult.pk)).values_list(
            "actor_id", "outcome"
        )
    )
    assert outcomes == {
        (world.specialist.pk, AuditOutcome.SUCCESS),
        (world.other_clinic_doctor.pk, AuditOutcome.DENIED),
    }


def test_requester_cancels_with_reason(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)

    _signed_in(client, world.clinic_doctor).post(
        _act(consult, "cancel"), {"cancel-reason": "患者已转院"}
    )

    consult.refresh_from_db()
    assert consult.status == Status.CANCELLED


def test_amendment_with_reason_signs_a_second_version(client: Client, world: World) -> None:
    consult = make_consult(world, Status.OPINION_SIGNED)
    edit = reverse("consults:opinion_edit", kwargs={"consult_id": consult.pk})
    _signed_in(client, world.specialist).post(edit, _opinion_form(amendment_reason="补充随访建议"))

    response = client.post(
        reverse("consults:opinion_sign", kwargs={"consult_id": consult.pk}),
        {"password": PASSWORD},
    )
    page = client.get(response["Location"])

    assert list(OpinionVersion.objects.values_list("number", flat=True)) == [1, 2]
    assert page.context["version"].number == 2
    assert "Version history" in page.content.decode()


def test_mdt_member_contributes_but_cannot_sign(client: Client, world: World) -> None:
    consult = make_consult(world, Status.UNDER_REVIEW, kind=Kind.MDT, target_kind="consult_centre")
    member = add_specialist(world, "member")
    ConsultParticipant.objects.create(consult=consult, practitioner=member)
    consult_grants_sync(consult=consult)  # as assigning them would
    edit = reverse("consults:opinion_edit", kwargs={"consult_id": consult.pk})

    page = _signed_in(client, member.user).get(edit)
    client.post(
        reverse("consults:opinion_contribute", kwargs={"consult_id": consult.pk}),
        {"text": "建议加做增强CT"},
    )

    assert page.context["actions"] >= {"contribute"}
    assert "write_opinion" not in page.context["actions"]
    assert OpinionContribution.objects.get().text == "建议加做增强CT"


def test_schedule_reads_and_shows_times_in_shanghai(client: Client, world: World) -> None:
    consult = make_consult(world, Status.ACCEPTED, mode="live")

    _signed_in(client, world.specialist).post(
        _act(consult, "schedule"), {"scheduled_start": "2026-12-01T09:30"}
    )
    page = client.get(_detail(consult))

    consult.refresh_from_db()
    assert consult.scheduled_start == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    assert "2026-12-01 09:30" in page.content.decode()
    assert "start_session" in page.context["actions"]
