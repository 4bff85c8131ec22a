"""Account services: API tokens, login throttling (every password check) and ending sessions."""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from server import sql
from server.accounts.errors import AccountLocked
from server.accounts.models import ApiToken, LoginThrottle, User
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record
from server.lib.events import end_sessions_on_commit

TOKEN_PREFIX = "yz_"  # noqa: S105 - a public marker that makes leaked tokens easy to scan for


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token and return it with the raw key, which is shown once and never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        key_hash=_token_hash(raw),
        expires_at=expires_at,
    )
    return token, raw


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """Return the live token matching `raw`, its user loaded, or None if unknown, revoked or
    expired. Every API request asks: one statement written once, not a queryset compiled."""
    now = timezone.now()
    token = sql.api_token_unrevoked(_token_hash(raw))
    if token is None or (token.expires_at is not None and token.expires_at <= now):
        return None
    # Cheap, coarse "last used": at most one write a minute per token.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def login_check_not_locked(*, username: str) -> None:
    """Raises: AccountLocked while the username is locked out."""
    throttle = LoginThrottle.objects.filter(username=username.lower()).first()
    if throttle and throttle.locked_until and throttle.locked_until > timezone.now():
        raise AccountLocked(throttle.locked_until)


@transaction.atomic
def login_failure_record(*, username: str) -> LoginThrottle:
    """Count a failed login; lock the username once the limit is reached within the window."""
    throttle = _failure_count(username=username)
    audit_record(
        user=None,
        action=AuditAction.EXECUTE,
        event="user.login",
        outcome=AuditOutcome.DENIED,
        detail={"username": username, "locked": throttle.locked_until is not None},
    )
    return throttle


def _failure_count(*, username: str) -> LoginThrottle:
    """Count one wrong password against the username's lock-out; called in a transaction."""
    now = timezone.now()
    window = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    throttle, _ = LoginThrottle.objects.select_for_update().get_or_create(username=username.lower())
    if throttle.first_failure_at is None or now - throttle.first_failure_at > window:
        throttle.failures = 0
        throttle.first_failure_at = now
    throttle.failures += 1
    if throttle.failures >= settings.LOGIN_FAILURE_LIMIT:
        throttle.locked_until = now + window
        throttle.failures = 0
        throttle.first_failure_at = None
    throttle.save()
    return throttle


def login_locked_record(*, username: str) -> None:
    """Audit a sign-in refused because the username is locked out."""
    audit_record(
        user=None,
        action=AuditAction.EXECUTE,
        event="user.login",
        outcome=AuditOutcome.DENIED,
        detail={"username": username, "locked": True},
    )


def password_confirm(*, user: User, password: str) -> bool:
    """Whether a signed-in user's password is right, asked again to sign or to change it.

    Counted by the sign-in lock-out, so a session is no place to guess: a wrong password counts
    as a failed sign-in, and a locked account is refused whatever it types. The count is written
    in a transaction of its own: call this outside the caller's, whose refusal rolls back.
    Raises: AccountLocked while the account is locked, or when this wrong password locks it.
    """
    username = user.get_username()
    try:
        login_check_not_locked(username=username)
    except AccountLocked:
        _password_confirm_refused(user=user, locked=True)
        raise
    if user.check_password(password):
        return True
    with transaction.atomic():
        throttle = _failure_count(username=username)
        _password_confirm_refused(user=user, locked=throttle.locked_until is not None)
    if throttle.locked_until is not None:
        raise AccountLocked(throttle.locked_until)
    return False


def _password_confirm_refused(*, user: User, locked: bool) -> None:
    audit_record(
        user=user,
        action=AuditAction.EXECUTE,
        event="user.password_confirm",
        outcome=AuditOutcome.DENIED,
        detail={"locked": locked},
    )


def login_success_record(*, user: User) -> None:
    LoginThrottle.objects.filter(username=user.get_username().lower()).delete()
    audit_record(user=user, action=AuditAction.EXECUTE, event="user.login")


@transaction.atomic
def user_logout_everywhere(*, user: User) -> None:
    """End every browser session and revoke every API token of the user."""
    User.objects.filter(pk=user.pk).update(session_version=F("session_version") + 1)
    ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    end_sessions_on_commit(user.pk)
    audit_record(user=user, action=AuditAction.EXECUTE, event="user.logout_everywhere")
