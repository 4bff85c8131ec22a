"""Models read back from hand-written SELECTs equal what the ORM reads."""

from datetime import timedelta

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.utils import timezone

from server.accounts.models import ApiToken, User
from server.accounts.services import api_token_create
from server.directory.models import Patient
from server.lib.rows import Selected
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


def _row(sql: str, params: list[int]) -> tuple[object, ...]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    assert row is not None
    return tuple(row)


def test_a_selected_row_loads_the_models_the_orm_would() -> None:
    token, _ = api_token_create(
        user=UserFactory.create(), name="gateway", expires_at=timezone.now() + timedelta(days=3)
    )
    tokens, users = Selected(ApiToken, "t"), Selected(User, "u", omit=("password",))
    row = _row(
        f"SELECT {tokens.sql}, {users.sql} FROM accounts_apitoken t "  # noqa: S608  # column lists from the models
        "JOIN accounts_user u ON u.id = t.user_id WHERE t.id = %s",
        [token.pk],
    )
    loaded_token, loaded_user = tokens.load(row), users.load(row, tokens.width)
    assert model_to_dict(loaded_token) == model_to_dict(ApiToken.objects.get(pk=token.pk))
    assert loaded_token.created_at == token.created_at
    assert loaded_token.expires_at == token.expires_at
    stored_user = User.objects.get(pk=token.user_id)
    assert loaded_user.date_joined == stored_user.date_joined
    assert model_to_dict(loaded_user, exclude=["password"]) == model_to_dict(
        stored_user, exclude=["password"]
    )
    assert loaded_user.get_deferred_fields() == {"password"}


def test_an_outer_join_that_found_nothing_loads_none() -> None:
    patient = PatientFactory.create()
    patients = Selected(Patient, "p")
    found = _row(
        f"SELECT {patients.sql} FROM directory_patient p WHERE p.id = %s",  # noqa: S608  # column lists from the models
        [patient.pk],
    )
    assert model_to_dict(patients.load_joined(found, 0)) == model_to_dict(  # type: ignore[arg-type]
        Patient.objects.get(pk=patient.pk)
    )
    missing = _row(
        f"SELECT 1, {patients.sql} FROM (SELECT 1) one "  # noqa: S608  # column lists from the models
        "LEFT JOIN directory_patient p ON p.id = %s",
        [patient.pk + 1000],
    )
    assert patients.load_joined(missing, 1) is None
