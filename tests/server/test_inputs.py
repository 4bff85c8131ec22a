"""Inputs checked at the edge: a NUL byte, an oversized value, a runaway offset or a JSON bomb
is answered 400 in words, and the refusal is audited like the read it stood in for."""

import pytest
from django.test import Client

from server.accounts.models import User
from server.accounts.services import api_token_create
from server.audit.models import AuditAction, AuditEvent, AuditOutcome
from server.audit.services import audit_chain_breaks, audit_record
from tests.conftest import World
from tests.consult.conftest import make_consult


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event="request.refused"))


def _assert_refused_and_audited(response: object, user: User) -> None:
    assert getattr(response, "status_code", None) == 400
    (refusal,) = _refusals()
    assert refusal.actor_id == user.pk
    assert refusal.outcome == AuditOutcome.DENIED
    assert "\x00" not in str(refusal.detail)
    assert not list(audit_chain_breaks())


def test_a_nul_byte_in_a_page_search_is_a_400_in_words_and_audited(world: World) -> None:
    response = _signed_in(world.clinic_doctor).get("/patients/?q=%00")

    _assert_refused_and_audited(response, world.clinic_doctor)
    assert "NUL" in response.content.decode()


def test_a_nul_byte_in_an_api_query_is_a_400_in_words_and_audited(world: World) -> None:
    consult = make_consult(world)

    response = _signed_in(world.clinic_doctor).get(
        f"/api/v1/consults/{consult.pk}/annotations/?study=%00"
    )

    _assert_refused_and_audited(response, world.clinic_doctor)
    assert "detail" in response.json()


def test_a_nul_byte_in_a_dicomweb_query_or_uid_is_a_400_audited_for_the_token_holder(
    world: World,
) -> None:
    token = api_token_create(user=world.clinic_doctor, name="test")[1]
    client = Client(headers={"Authorization": f"Bearer {token}"})

    search = client.get("/dicomweb/studies?PatientName=%00")
    _assert_refused_and_audited(search, world.clinic_doctor)
    assert "detail" in search.json()
    uid = client.get("/dicomweb/studies/1.2%003/metadata")
    assert uid.status_code == 400
    assert len(_refusals()) == 2


def test_a_nul_byte_from_a_signed_out_caller_is_a_400_and_writes_nothing(world: World) -> None:
    response = Client().get("/patients/?q=%00")

    assert response.status_code == 400
    assert not _refusals()


def test_a_nul_byte_in_a_posted_form_field_is_a_400(world: World) -> None:
    response = _signed_in(world.clinic_doctor).post("/patients/new/", {"name": "王\x00"})

    _assert_refused_and_audited(response, world.clinic_doctor)


def test_an_oversized_query_value_is_a_400(world: World) -> None:
    response = _signed_in(world.clinic_doctor).get("/patients/?q=" + "x" * 20_000)

    _assert_refused_and_audited(response, world.clinic_doctor)


def test_a_huge_api_offset_is_a_400_and_a_huge_limit_is_capped(world: World) -> None:
    make_consult(world)
    client = _signed_in(world.clinic_doctor)

    huge_offset = client.get("/api/v1/consults/?offset=99999999999999999999")
    huge_limit = client.get("/api/v1/consults/?limit=99999999999999999999")

    assert huge_offset.status_code == 400
    assert "offset" in huge_offset.json()
    assert huge_limit.status_code == 200
    assert huge_limit.json()["count"] == 1


def test_a_huge_qido_offset_is_a_400(world: World) -> None:
    response = _signed_in(world.clinic_doctor).get("/dicomweb/studies?offset=99999999999999999999")

    assert response.status_code == 400
    assert "offset" in response.json()["detail"]


def test_deeply_nested_json_is_a_400_in_words(world: World) -> None:
    body = "[" * 100_000 + "]" * 100_000

    response = _signed_in(world.clinic_doctor).post(
        "/api/v1/consults/", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert "detail" in response.json()


def test_the_audit_records_a_nul_without_failing_and_the_chain_holds(world: World) -> None:
    row = audit_record(
        user=world.clinic_doctor,
        action=AuditAction.READ,
        event="test.nul",
        resource_id="1.2\x003",
        detail={"study": "\x00", "list": ["a\x00b"], "k\x00": 1},
    )

    row.refresh_from_db()
    assert "\x00" not in str(row.detail) + row.resource_id
    assert not list(audit_chain_breaks())


@pytest.mark.parametrize("born", ["9999-12-31", "0329-01-01"])
def test_a_birth_date_outside_a_life_is_refused_by_the_api(world: World, born: str) -> None:
    response = _signed_in(world.clinic_doctor).post(
        "/api/v1/patients/",
        {"name": "李四", "sex": "male", "birth_date": born},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["birth_date"]
