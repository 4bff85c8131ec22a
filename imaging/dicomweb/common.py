"""What every DICOMweb view shares: callers, authentication, errors, dispatch, resource URLs."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from imaging.budget import RETRY_AFTER_SECONDS, BudgetSpent, MemoryBudget, process_budget
from imaging.qido import QueryInvalid
from imaging.wado import ParameterInvalid
from server.access import NotFound
from server.accounts.authentication import ApiTokenAuthentication
from server.accounts.models import ApiToken, User

DICOM_JSON = "application/dicom+json"
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Caller:
    user: User
    # The viewing session reads are audited once in: the browser session, or token and hour.
    session: str


def error_response(status: int, message: str) -> HttpResponse:
    return HttpResponse(
        json.dumps({"detail": message}), status=status, content_type="application/json"
    )


def decode_budget() -> MemoryBudget:
    """The process's budget of memory for decoding (IMAGING_DECODE_BUDGET_BYTES)."""
    return process_budget(settings.IMAGING_DECODE_BUDGET_BYTES)


def too_large_response(cost: int, limit: int, alternative: str) -> HttpResponse:
    """413 for a decode above IMAGING_DECODE_MAX_BYTES, saying how to get the data instead."""
    mib = 1024 * 1024
    return error_response(
        413,
        f"The image is too large to decode here: that needs about {-(-cost // mib)} MiB of "
        f"memory and this server decodes at most {limit // mib} MiB at once. "
        f"Ask for it {alternative}.",
    )


def busy_response() -> HttpResponse:
    """503 while the process's decode budget is spent by other requests."""
    response = error_response(
        503, "The server is decoding other images at the moment; try again shortly."
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def browser_viewing_session(request: HttpRequest) -> str:
    """The viewing session of a signed-in browser: its session key, hashed.

    The viewer page and the DICOMweb requests it makes share it, so one visit is audited once.
    """
    key = request.session.session_key or ""
    return "s" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _caller(request: HttpRequest) -> Caller | HttpResponse:
    try:
        token_auth = ApiTokenAuthentication().authenticate(Request(request))
    except AuthenticationFailed as exc:
        response = error_response(401, str(exc.detail))
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if token_auth is not None:
        user, token = token_auth
        assert isinstance(token, ApiToken)
        return Caller(user=user, session=f"t{token.pk}:{timezone.now():%Y%m%d%H}")
    if isinstance(request.user, User) and request.user.is_authenticated:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            check = CsrfViewMiddleware(lambda _request: HttpResponse())
            check.process_request(request)
            refused = check.process_view(request, lambda _request: HttpResponse(), (), {})
            if refused is not None:
                return error_response(403, "CSRF check failed.")
        return Caller(user=request.user, session=browser_viewing_session(request))
    response = error_response(401, "Authentication credentials were not provided.")
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


View = Callable[..., HttpResponseBase]


def dicomweb(methods: dict[str, View]) -> Callable[..., HttpResponseBase]:
    """One URL: authenticate, dispatch by method, and turn NotFound, QueryInvalid and a spent
    decode budget into HTTP."""

    @csrf_exempt
    @wraps(next(iter(methods.values())))
    def view(request: HttpRequest, **kwargs: str) -> HttpResponseBase:
        handler = methods.get(request.method or "")
        if handler is None:
            response = error_response(405, "Method not allowed.")
            response["Allow"] = ", ".join(methods)
            return response
        caller = _caller(request)
        if isinstance(caller, HttpResponse):
            return caller
        try:
            return handler(request, caller, **kwargs)
        except NotFound:
            return error_response(404, "Not found.")
        except (QueryInvalid, ParameterInvalid) as exc:
            return error_response(400, str(exc))
        except BudgetSpent:
            return busy_response()

    return view


def studies_root(request: HttpRequest) -> str:
    """The absolute URL of the studies resource; a response's study, series and instance URLs
    extend it (UIDs are digits and dots: nothing to escape), so none needs its own reverse()."""
    return request.build_absolute_uri(reverse("imaging:studies"))


def study_url(root: str, study_uid: str) -> str:
    return f"{root}/{study_uid}"


def series_url(root: str, study_uid: str, series_uid: str) -> str:
    return f"{root}/{study_uid}/series/{series_uid}"


def instance_url(root: str, study_uid: str, series_uid: str, sop_uid: str) -> str:
    return f"{root}/{study_uid}/series/{series_uid}/instances/{sop_uid}"


def stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        data: bytes = handle.read()
    return data


def stored_frames(name: str, frames: list[list[list[int]]]) -> list[bytes]:
    """Frames read from a stored file by the [offset, length] of each of their fragments."""
    bodies = []
    with default_storage.open(name, "rb") as handle:
        for fragments in frames:
            parts = []
            for offset, length in fragments:
                handle.seek(offset)
                parts.append(handle.read(length))
            bodies.append(b"".join(parts))
    return bodies
