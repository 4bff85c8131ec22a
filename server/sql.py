"""The shared domain's hand-written SQL (accounts, audit, directory and the access policy).

Each statement is one function, kept here because a bench showed the ORM's form costing real
time on a path every request takes, or because the ORM has no form of it (an UPDATE that
returns what it changed). Figures: bench/README.md, "Issue 14: raw SQL vs ORM". Table and
column names come from the models (`server.lib.rows.Aliased`); each function has its test in
tests/server/test_sql.py.
"""

from datetime import datetime
from functools import cache

from server.accounts.models import ApiToken, User
from server.audit.models import AuditChainHead
from server.directory.models import (
    AccessGrant,
    Institution,
    Patient,
    Practitioner,
    PractitionerRole,
)
from server.lib.rows import Aliased, Selected, fetch


def database_ping() -> None:
    """One round trip to the database (the readiness probe)."""
    fetch("SELECT 1")


# --- The access policy's actor ------------------------------------------------------------------


@cache
def _practitioner_roles_sql() -> str:
    p, i, r = (
        Aliased(Practitioner, "p"),
        Aliased(Institution, "i"),
        Aliased(PractitionerRole, "r"),
    )
    return (
        f"SELECT {p['id']}, {p['institution']}, {i['consortium']}, {r['role']} "  # noqa: S608  # names from _meta
        f"FROM {p} JOIN {i} ON {i['id']} = {p['institution']} "
        f"LEFT JOIN {r} ON {r['practitioner']} = {p['id']} "
        f"WHERE {p['user']} = %s AND {p['is_active']}"
    )


def practitioner_roles(user_id: int) -> list[tuple[int, int, int, str | None]]:
    """The user's active practitioner as (practitioner id, institution id, consortium id, role),
    one row per role, one with None for a practitioner without roles; no rows for a user who is
    not an active practitioner."""
    return fetch(_practitioner_roles_sql(), [user_id])


# --- Audit chain head -------------------------------------------------------------------------


@cache
def _audit_head_advance_sql() -> str:
    h = Aliased(AuditChainHead, "h")
    return (
        f"UPDATE {h} SET {h.column('seq')} = {h['seq']} + 1 "  # noqa: S608  # names from _meta
        f"WHERE {h['id']} = %s RETURNING {h['seq']}, {h['last_hash']}"
    )


def audit_head_advance(head_id: int) -> tuple[int, str] | None:
    """Count one more event on the chain head and return (its new seq, the last event's hash),
    or None when the head row does not exist. Takes the head's row lock until the transaction
    ends, so appends are serialised; the ORM's update() cannot return the row it changed."""
    rows = fetch(_audit_head_advance_sql(), [head_id])
    return (rows[0][0], rows[0][1]) if rows else None


# --- API tokens ---------------------------------------------------------------------------------

_TOKEN = Selected(ApiToken, "t")
_TOKEN_USER = Selected(User, "u", omit=("password",))


@cache
def _api_token_sql() -> str:
    t, u = Aliased(ApiToken, "t"), Aliased(User, "u")
    return (
        f"SELECT {_TOKEN.sql}, {_TOKEN_USER.sql} FROM {t} JOIN {u} ON {u['id']} = {t['user']} "  # noqa: S608  # names from _meta
        f"WHERE {t['key_hash']} = %s AND {t['revoked_at']} IS NULL AND {u['is_active']}"
    )


def api_token_unrevoked(key_hash: str) -> ApiToken | None:
    """The unrevoked token of an active user with this key hash, its user loaded (the password
    deferred), expired or not; None if there is none."""
    rows = fetch(_api_token_sql(), [key_hash])
    if not rows:
        return None
    token = _TOKEN.load(rows[0])
    token.user = _TOKEN_USER.load(rows[0], _TOKEN.width)
    return token


# --- The study VIEW rule as a condition -----------------------------------------------------------


@cache
def _study_scope_coordinator_sql() -> str:
    p, i = Aliased(Patient, "p"), Aliased(Institution, "i")
    return (
        f"({{patient}} IN (SELECT {p['id']} FROM {p} WHERE {p['consortium']} = %s)"  # noqa: S608  # names from _meta
        f" OR ({{patient}} IS NULL AND {{institution}} IN"
        f" (SELECT {i['id']} FROM {i} WHERE {i['consortium']} = %s)))"
    )


@cache
def _study_scope_staff_sql() -> str:
    p, g = Aliased(Patient, "p"), Aliased(AccessGrant, "g")
    return (
        f"({{patient}} IN (SELECT {p['id']} FROM {p} WHERE {p['consortium']} = %s"  # noqa: S608  # names from _meta
        f" AND ({p['home_institution']} = %s OR {p['id']} IN (SELECT {g['patient']}"
        f" FROM {g} WHERE {g['institution']} = %s"
        f" AND {g['user']} = %s AND {g['starts_at']} <= %s AND {g['ends_at']} > %s)))"
        f" OR ({{patient}} IS NULL AND {{institution}} = %s))"
    )


def study_scope_of_coordinator(*, consortium_id: int) -> tuple[str, list[object]]:
    """The studies a coordinator sees, as a condition on a study row (`{patient}` and
    `{institution}` stand for its columns) and its parameters: the consortium's patients'
    studies and the unmatched studies its institutions own."""
    return _study_scope_coordinator_sql(), [consortium_id, consortium_id]


def study_scope_of_staff(
    *, consortium_id: int, institution_id: int, user_id: int, now: datetime
) -> tuple[str, list[object]]:
    """The studies an institution's staff member sees, as `study_scope_of_coordinator` gives
    them: the studies of the consortium's patients of the institution or granted to the user
    in it at `now`, and the unmatched studies the institution owns."""
    return _study_scope_staff_sql(), [
        consortium_id,
        institution_id,
        institution_id,
        user_id,
        now,
        now,
        institution_id,
    ]
