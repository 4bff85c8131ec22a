"""The consult API end to end: create, submit, accept, sign, acknowledge; 404s; audit; FHIR."""

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

# fhir.resources 8 ships R5 by default plus R4B and STU3 packages; no plain R4. R4B keeps R4's
# ServiceRequest and Task unchanged, so it checks the R4 structure.
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from consult.models import ConsultRequest, Status
from server.audit.models import AuditEvent, AuditOutcome
from tests.conftest import World
from tests.consult.conftest import make_consult, practitioner_of
from tests.factories import PASSWORD

# A whole 1x1 PNG: attachments are checked beyond their first bytes.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)


def _client(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def _create_body(world: World) -> dict[str, Any]:
    return {
        "patient_id": world.patient.pk,
        "kind": "consult",
        "mode": "offline",
        "urgency": "urgent",
        "reason": "反复胸痛",
        "purpose": "明确诊断",
        "clinical_summary": "胸片示右下肺阴影",
        "wanted_specialty": "radiology",
        "minimum_title": "attending",
        "target_kind": "specialist",
        "target_practitioner_id": practitioner_of(world.specialist).pk,
        "consent_signer": "王秀英",
        "consent_relation": "self",
        "consent_method": "electronic",
    }


def test_whole_path_from_request_to_acknowledgement(world: World) -> None:
    clinic, specialist = _client("clinic"), _client("specialist")
    created = clinic.post("/api/v1/consults/", _create_body(world), content_type="application/json")
    assert created.status_code == 201, created.json()
    consult_id = created.json()["id"]
    url = f"/api/v1/consults/{consult_id}/"

    def act(client: Client, action: str, **extra: Any) -> Any:
        response = client.post(
            f"{url}transitions/", {"action": action, **extra}, content_type="application/json"
        )
        assert response.status_code == 200, response.json()
        return response.json()

    assert act(clinic, "submit")["status"] == Status.ASSIGNED
    incoming = specialist.get("/api/v1/consults/?worklist=incoming").json()
    assert [c["id"] for c in incoming["results"]] == [consult_id]
    act(specialist, "accept")
    act(specialist, "start_review")
    draft = specialist.put(
        f"{url}opinion/draft/",
        {"findings": "右下肺片状影", "impression": "社区获得性肺炎", "recommendations": "抗感染"},
        content_type="application/json",
    )
    assert draft.status_code == 200
    wrong = specialist.post(
        f"{url}opinion/sign/", {"password": "nope"}, content_type="application/json"
    )
    assert (wrong.status_code, list(wrong.json())) == (400, ["password"])
    signed = specialist.post(
        f"{url}opinion/sign/", {"password": PASSWORD}, content_type="application/json"
    )
    assert signed.status_code == 200
    assert signed.json()["heading"] == "会诊意见（供参考）"  # noqa: RUF001
    assert len(signed.json()["content_sha256"]) == 64
    versions = clinic.get(f"{url}opinion/").json()
    assert [v["number"] for v in versions] == [1]
    ack = clinic.post(
        f"{url}acknowledge/",
        {"disposition": "adopted", "next_steps": "按建议抗感染治疗"},
        content_type="application/json",
    )
    assert ack.status_code == 200
    assert ConsultRequest.objects.get(pk=consult_id).status == Status.CLOSED
    detail = clinic.get(url).json()
    assert [e["to_status"] for e in detail["consult"]["events"]] == [
        "submitted",
        "assigned",
        "accepted",
        "under_review",
        "opinion_signed",
        "closed",
    ]
    assert detail["consult"]["events"][0]["at"].endswith("+08:00")


def test_bad_field_gives_a_400_naming_it(world: World) -> None:
    body = {**_create_body(world), "urgency": "whenever"}
    response = _client("clinic").post("/api/v1/consults/", body, content_type="application/json")
    assert (response.status_code, list(response.json())) == (400, ["urgency"])
    body = {
        **_create_body(world),
        "target_practitioner_id": practitioner_of(world.clinic_doctor).pk,
    }
    response = _client("clinic").post("/api/v1/consults/", body, content_type="application/json")
    assert (response.status_code, list(response.json())) == (400, ["target_practitioner_id"])


def test_unrelated_township_can_neither_list_nor_read_and_the_attempt_is_audited(
    world: World,
) -> None:
    consult = make_consult(world, Status.ASSIGNED)
    stranger = _client("other_clinic")
    assert stranger.get("/api/v1/consults/").json()["results"] == []
    for path in ("", "fhir/", "opinion/"):
        assert stranger.get(f"/api/v1/consults/{consult.pk}/{path}").status_code == 404
    response = stranger.post(
        f"/api/v1/consults/{consult.pk}/transitions/",
        {"action": "accept"},
        content_type="application/json",
    )
    assert response.status_code == 404
    denied = AuditEvent.objects.filter(
        event="consult.view", outcome=AuditOutcome.DENIED, resource_id=str(consult.pk)
    )
    assert denied.count() == 3


def test_every_read_is_audited(world: World) -> None:
    consult = make_consult(world, Status.ASSIGNED)
    specialist = _client("specialist")
    assert specialist.get(f"/api/v1/consults/{consult.pk}/").status_code == 200
    assert specialist.get("/api/v1/consults/").status_code == 200
    assert AuditEvent.objects.filter(
        event="consult.view", outcome=AuditOutcome.SUCCESS, patient_id=world.patient.pk
    ).exists()
    listing = AuditEvent.objects.get(event="consult.list")
    assert listing.detail == {"consult_ids": [consult.pk]}


def test_list_is_paginated(world: World) -> None:
    for _ in range(3):
        make_consult(world)
    page = _client("clinic").get("/api/v1/consults/?limit=2").json()
    assert (page["count"], len(page["results"])) == (3, 2)
    assert page["next"] is not None


def test_fhir_view_is_a_valid_r4_bundle_of_service_request_and_task(world: World) -> None:
    consult = make_consult(world, Status.ACCEPTED)
    response = _client("clinic").get(f"/api/v1/consults/{consult.pk}/fhir/")
    assert response.status_code == 200
    bundle = Bundle.model_validate(response.json())
    request, task = (entry.resource for entry in bundle.entry or [])
    assert isinstance(request, ServiceRequest)
    assert isinstance(task, Task)
    assert (request.priority, request.status) == ("urgent", "active")
    assert task.status == "accepted"
    assert task.owner is not None
    assert task.owner.reference == f"Practitioner/{practitioner_of(world.specialist).pk}"


@pytest.mark.parametrize(
    ("content", "name", "field_ok"),
    [(PNG, "x.png", True), (b"MZ\x90\x00 not an image", "x.png", False)],
)
def test_attachment_type_is_read_from_the_bytes(
    world: World, settings: Any, tmp_path: Any, content: bytes, name: str, field_ok: bool
) -> None:
    settings.MEDIA_ROOT = tmp_path
    consult = make_consult(world)
    response = _client("clinic").post(
        f"/api/v1/consults/{consult.pk}/attachments/",
        {"kind": "photo", "file": SimpleUploadedFile(name, content)},
    )
    if field_ok:
        assert response.status_code == 201
        assert response.json()["content_type"] == "image/png"
    else:
        assert (response.status_code, list(response.json())) == (400, ["file"])


@pytest.mark.parametrize("start", ["0329-01-01T09:00:00+08:00", "9999-12-31T09:00:00+08:00"])
def test_a_preferred_start_outside_sane_years_is_a_400_naming_it(world: World, start: str) -> None:
    body = {**_create_body(world), "preferred_start": start}

    response = _client("clinic").post("/api/v1/consults/", body, content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()) == ["preferred_start"]
