"""Every request's inputs checked at the door, before any view reads them.

A NUL byte cannot be stored by PostgreSQL (text and jsonb refuse it), so one that reached a
query or the audit trail used to end in a 500 that recorded nothing. An absurdly long value is
never a real input either. `InputGuardMiddleware` answers both with a 400 in words, for every
door at once (pages, the JSON API, DICOMweb), and records the refusal in the audit trail when
the caller is known, as the read it stood in for would have been.
"""

import json
from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from server.access import actor_for
from server.accounts.models import User
from server.accounts.services import api_token_authenticate
from server.audit.models import AuditAction, AuditOutcome
from server.audit.services import audit_record

# Far beyond any real value (a QIDO list of 100 UIDs is 6.5k); the path is checked for NUL only.
MAX_VALUE_CHARS = 8192
# Parsed by Django itself; other bodies (JSON, DICOM, tus chunks) are their parsers' to check.
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Doors whose callers read JSON; pages get the words as plain text.
_JSON_PREFIXES = ("/api/", "/dicomweb/")


def _values(pairs: Iterable[tuple[str, list[str]]]) -> Iterable[tuple[str, str]]:
    for name, values in pairs:
        yield name, name
        for value in values:
            yield name, value


def input_problem(request: HttpRequest) -> str | None:
    """Why the request's address, query or form cannot be taken as input; None when it can."""
    if "\x00" in request.path_info:
        return _("The address contains a NUL byte.")
    pairs = list(_values(request.GET.lists()))
    if request.method == "POST" and request.content_type in _FORM_TYPES:
        pairs += _values(request.POST.lists())
        pairs += (
            (name, file.name or "") for name, files in request.FILES.lists() for file in files
        )
    for name, value in pairs:
        if "\x00" in value:
            return _("The input %(name)s contains a NUL byte.") % {"name": printable(name)}
        if len(value) > MAX_VALUE_CHARS:
            return _("The input %(name)s is longer than %(limit)d characters.") % {
                "name": printable(name)[:64],
                "limit": MAX_VALUE_CHARS,
            }
    return None


def printable(text: str) -> str:
    """The text with NUL bytes shown as U+FFFD, so it can be stored and shown."""
    return text.replace("\x00", "\ufffd")


def _caller(request: HttpRequest) -> User | None:
    """The signed-in user, or the holder of a valid bearer token; None for anyone else."""
    if isinstance(request.user, User) and request.user.is_authenticated:
        return request.user
    header = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(header) == 2 and header[0].lower() == "bearer":
        token = api_token_authenticate(raw=header[1])
        return token.user if token is not None else None
    return None


def _refusal(request: HttpRequest, problem: str) -> HttpResponse:
    if request.path_info.startswith(_JSON_PREFIXES):
        return HttpResponse(
            json.dumps({"detail": problem}, ensure_ascii=False),
            status=400,
            content_type="application/json",
        )
    return HttpResponse(problem, status=400, content_type="text/plain; charset=utf-8")


class InputGuardMiddleware:
    """Answer 400 to a request whose inputs no view should see, and audit the refusal."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = input_problem(request)
        if problem is None:
            return self.get_response(request)
        user = _caller(request)
        if user is not None:
            # Only a known caller is recorded: a signed-out one reads nothing either way, and
            # must not be able to fill the trail.
            actor = actor_for(user)
            audit_record(
                user=user,
                action=AuditAction.READ
                if request.method in ("GET", "HEAD", "OPTIONS")
                else AuditAction.EXECUTE,
                event="request.refused",
                # FHIR AuditEvent outcome 4, a minor failure: a refused request, HTTP 400.
                outcome=AuditOutcome.DENIED,
                actor_institution_id=actor.institution_id if actor is not None else None,
                detail={
                    "method": request.method or "",
                    "path": printable(request.path_info)[:200],
                    "problem": problem,
                },
            )
        return _refusal(request, problem)
