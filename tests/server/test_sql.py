"""Each statement of `server/sql.py` against the database, with the cases it handles.

The study scope's conditions are pinned to `study_permits` in tests/imaging/test_study_scope.py,
which has studies to filter.
"""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from server import sql
from server.accounts.models import ApiToken
from server.accounts.services import api_token_create
from server.audit.models import AuditChainHead
from server.directory.models import Role
from tests.factories import PractitionerFactory, UserFactory

pytestmark = pytest.mark.django_db


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def test_the_database_answers_a_ping() -> None:
    sql.database_ping()


def test_practitioner_roles_gives_a_row_per_role() -> None:
    practitioner = PractitionerFactory.create(role_list=[Role.SPECIALIST, Role.COORDINATOR])
    rows = sql.practitioner_roles(practitioner.user_id)
    institution = practitioner.institution
    assert sorted(rows, key=str) == sorted(
        [
            (practitioner.pk, institution.pk, institution.consortium_id, Role.SPECIALIST.value),
            (practitioner.pk, institution.pk, institution.consortium_id, Role.COORDINATOR.value),
        ],
        key=str,
    )


def test_practitioner_roles_gives_one_row_without_a_role_for_a_practitioner_with_none() -> None:
    practitioner = PractitionerFactory.create()
    practitioner.roles.all().delete()
    assert sql.practitioner_roles(practitioner.user_id) == [
        (practitioner.pk, practitioner.institution_id, practitioner.institution.consortium_id, None)
    ]


def test_practitioner_roles_gives_nothing_for_an_inactive_practitioner_or_another_user() -> None:
    inactive = PractitionerFactory.create(is_active=False)
    assert sql.practitioner_roles(inactive.user_id) == []
    assert sql.practitioner_roles(UserFactory.create().pk) == []


def test_the_audit_head_advances_and_returns_the_last_link() -> None:
    head = AuditChainHead.objects.get_or_create(pk=1, defaults={"last_hash": "0" * 64})[0]
    seq, last_hash = head.seq, head.last_hash
    assert sql.audit_head_advance(1) == (seq + 1, last_hash)
    assert sql.audit_head_advance(1) == (seq + 2, last_hash)
    head.refresh_from_db()
    assert (head.seq, head.last_hash) == (seq + 2, last_hash)
    AuditChainHead.objects.filter(pk=1).update(last_hash="a" * 64)
    assert sql.audit_head_advance(1) == (seq + 3, "a" * 64)


def test_a_missing_audit_head_does_not_advance() -> None:
    AuditChainHead.objects.all().delete()
    assert sql.audit_head_advance(1) is None
    assert not AuditChainHead.objects.exists()


def test_an_api_token_comes_with_its_user_and_without_the_password() -> None:
    user = UserFactory.create()
    expires_at = timezone.now() - timedelta(days=1)
    token, raw = api_token_create(user=user, name="gateway", expires_at=expires_at)
    found = sql.api_token_unrevoked(_token_hash(raw))
    assert found is not None
    assert (found.pk, found.expires_at) == (token.pk, expires_at)  # expired: the caller decides
    assert ApiToken.user.is_cached(found)
    assert found.user.pk == user.pk
    assert found.user.get_deferred_fields() == {"password"}


def test_a_revoked_token_an_inactive_users_token_and_an_unknown_hash_give_none() -> None:
    revoked, raw_revoked = api_token_create(user=UserFactory.create(), name="revoked")
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    inactive = UserFactory.create(is_active=False)
    _, raw_inactive = api_token_create(user=inactive, name="inactive")
    for raw in (raw_revoked, raw_inactive, "yz_unknown"):
        assert sql.api_token_unrevoked(_token_hash(raw)) is None
