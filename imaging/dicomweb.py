"""DICOMweb views: STOW-RS, QIDO-RS and WADO-RS (PS3.18) over the archive's services."""

import gzip
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from pydicom.uid import ExplicitVRLittleEndian
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from imaging import dicomjson
from imaging.dicom import FailureReason, transcode_explicit_le
from imaging.models import IngestSource, Instance, Series, Study, ViewingKind
from imaging.multipart import (
    MultipartError,
    accept_parse,
    boundary_new,
    closing,
    media_type_parse,
    multipart_parse,
    part_head,
)
from imaging.qido import Level, Query, QueryInvalid, query_parse
from imaging.selectors import (
    first_instance_metadata,
    instances_of,
    metadata_of,
    qido_search,
    series_of_study,
    study_get_for_user,
)
from imaging.services import IngestResult, IngestStatus, instance_ingest
from server.access import NotFound, actor_for
from server.accounts.authentication import ApiTokenAuthentication
from server.accounts.models import ApiToken, User

logger = logging.getLogger(__name__)

DICOM_JSON = "application/dicom+json"
READ_CHUNK = 1024 * 1024
# Retired Explicit VR Big Endian: served only as stored (pydicom cannot re-encode it).
BIG_ENDIAN = "1.2.840.10008.1.2.2"


@dataclass(frozen=True)
class Caller:
    user: User
    # The viewing session reads are audited once in: the browser session, or token and hour.
    session: str


def _error(status: int, message: str) -> HttpResponse:
    return HttpResponse(
        json.dumps({"detail": message}), status=status, content_type="application/json"
    )


def _caller(request: HttpRequest) -> Caller | HttpResponse:
    try:
        token_auth = ApiTokenAuthentication().authenticate(Request(request))
    except AuthenticationFailed as exc:
        response = _error(401, str(exc.detail))
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
                return _error(403, "CSRF check failed.")
        key = request.session.session_key or ""
        return Caller(
            user=request.user, session="s" + hashlib.sha256(key.encode()).hexdigest()[:40]
        )
    response = _error(401, "Authentication credentials were not provided.")
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


View = Callable[..., HttpResponseBase]


def dicomweb(methods: dict[str, View]) -> Callable[..., HttpResponseBase]:
    """One URL: authenticate, dispatch by method, and turn NotFound and QueryInvalid into HTTP."""

    @csrf_exempt
    @wraps(next(iter(methods.values())))
    def view(request: HttpRequest, **kwargs: str) -> HttpResponseBase:
        handler = methods.get(request.method or "")
        if handler is None:
            response = _error(405, "Method not allowed.")
            response["Allow"] = ", ".join(methods)
            return response
        caller = _caller(request)
        if isinstance(caller, HttpResponse):
            return caller
        try:
            return handler(request, caller, **kwargs)
        except NotFound:
            return _error(404, "Not found.")
        except QueryInvalid as exc:
            return _error(400, str(exc))

    return view


# --- URLs of resources ------------------------------------------------------------------------


def _study_url(request: HttpRequest, study_uid: str) -> str:
    return request.build_absolute_uri(reverse("imaging:study", kwargs={"study": study_uid}))


def _series_url(request: HttpRequest, study_uid: str, series_uid: str) -> str:
    path = reverse("imaging:series", kwargs={"study": study_uid, "series": series_uid})
    return request.build_absolute_uri(path)


def _instance_url(request: HttpRequest, study_uid: str, series_uid: str, sop_uid: str) -> str:
    path = reverse(
        "imaging:instance", kwargs={"study": study_uid, "series": series_uid, "instance": sop_uid}
    )
    return request.build_absolute_uri(path)


# --- STOW-RS --------------------------------------------------------------------------------


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """The request body, or None once it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := request.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def stow(request: HttpRequest, caller: Caller, study: str | None = None) -> HttpResponse:
    """Store Instances: every part goes through the one ingest service; the batch reports each."""
    content_type = media_type_parse(request.META.get("CONTENT_TYPE", ""))
    if content_type.type != "multipart/related" or (
        content_type.params.get("type", "").lower() != "application/dicom"
    ):
        return _error(415, 'Send multipart/related; type="application/dicom".')
    limit = settings.IMAGING_MAX_REQUEST_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > limit:
        return _error(413, f"The request body exceeds {limit} bytes.")
    body = _read_body(request, limit)
    if body is None:
        return _error(413, f"The request body exceeds {limit} bytes.")
    try:
        parts = multipart_parse(body, content_type.params.get("boundary", ""))
    except MultipartError as exc:
        return _error(400, str(exc))
    if not parts:
        return _error(400, "The request has no parts.")
    actor = actor_for(caller.user)
    results = []
    for part in parts:
        part_type = media_type_parse(part.content_type or "application/dicom").type
        if part_type != "application/dicom":
            results.append(
                IngestResult(
                    status=IngestStatus.FAILED,
                    failure_reason=FailureReason.CANNOT_UNDERSTAND,
                    message=f"Part of type {part_type} is not application/dicom.",
                )
            )
            continue
        results.append(
            instance_ingest(
                data=part.body,
                source=IngestSource.STOW,
                institution_id=actor.institution_id if actor else 0,
                user=caller.user,
                study_instance_uid=study,
            )
        )
    for result in results:
        if not result.ok:
            logger.info("STOW-RS part refused: 0x%04X", result.failure_reason or 0)
    stored = [r for r in results if r.ok]
    status = 200 if len(stored) == len(results) else 202 if stored else 409
    study_url = _study_url(request, study) if study else ""
    payload = dicomjson.stow_response(
        results,
        study_url,
        lambda r: _instance_url(
            request, r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid
        ),
    )
    return HttpResponse(
        json.dumps(payload, ensure_ascii=False), status=status, content_type=DICOM_JSON
    )


# --- QIDO-RS --------------------------------------------------------------------------------


def _query(request: HttpRequest, level: Level) -> Query:
    pairs = [(key, value) for key, values in request.GET.lists() for value in values]
    return query_parse(level, pairs)


def _qido_response(results: list[dict[str, Any]], query: Query, more: bool) -> HttpResponse:
    if not results:
        response = HttpResponse(status=204)
    else:
        response = HttpResponse(json.dumps(results, ensure_ascii=False), content_type=DICOM_JSON)
    warnings = [
        f'299 yunzhen "The key {name} is not supported for matching and was ignored."'
        for name in query.ignored
    ]
    if more:
        warnings.append('299 yunzhen "There are additional results that can be requested."')
    if warnings:
        response["Warning"] = ", ".join(warnings)
    return response


def search_studies(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = _query(request, Level.STUDY)
    page = qido_search(user=caller.user, session=caller.session, query=query)
    studies = [row for row in page.rows if isinstance(row, Study)]
    first = first_instance_metadata(ids=[s.pk for s in studies], by="study")
    results = dicomjson.studies_json(
        studies, query, lambda s: _study_url(request, s.study_instance_uid), first
    )
    return _qido_response(results, query, page.more)


def search_series(request: HttpRequest, caller: Caller, study: str | None = None) -> HttpResponse:
    query = _query(request, Level.SERIES)
    scope = (
        study_get_for_user(
            user=caller.user, study_uid=study, session=caller.session, kind=ViewingKind.SEARCH
        )
        if study is not None
        else None
    )
    page = qido_search(user=caller.user, session=caller.session, query=query, study=scope)
    rows = [row for row in page.rows if isinstance(row, Series)]
    first = first_instance_metadata(ids=[s.pk for s in rows], by="series")
    results = dicomjson.series_json(
        rows,
        query,
        lambda s: _series_url(request, s.study.study_instance_uid, s.series_instance_uid),
        first,
    )
    return _qido_response(results, query, page.more)


def search_instances(
    request: HttpRequest, caller: Caller, study: str | None = None, series: str | None = None
) -> HttpResponse:
    query = _query(request, Level.INSTANCE)
    scope = (
        study_get_for_user(
            user=caller.user, study_uid=study, session=caller.session, kind=ViewingKind.SEARCH
        )
        if study is not None
        else None
    )
    series_scope = (
        series_of_study(study=scope, series_uid=series)
        if scope is not None and series is not None
        else None
    )
    page = qido_search(
        user=caller.user, session=caller.session, query=query, study=scope, series=series_scope
    )
    rows = [row for row in page.rows if isinstance(row, Instance)]
    results = dicomjson.instances_json(
        rows,
        query,
        lambda i: _instance_url(
            request,
            i.study.study_instance_uid,
            i.series.series_instance_uid,
            i.sop_instance_uid,
        ),
    )
    return _qido_response(results, query, page.more)


# --- WADO-RS --------------------------------------------------------------------------------


def _acceptable_syntaxes(accept: str) -> set[str] | None:
    """Transfer syntaxes the client takes as application/dicom parts ("*": any), or None.

    No Accept, */*, or a multipart range without a transfer-syntax means the default,
    Explicit VR Little Endian (PS3.18 8.7.3.5.2). Quality values are not weighed.
    """
    if not accept.strip():
        return {str(ExplicitVRLittleEndian)}
    syntaxes: set[str] = set()
    for media in accept_parse(accept):
        if media.type in ("*/*", "multipart/*"):
            syntaxes.add(str(ExplicitVRLittleEndian))
        elif media.type == "multipart/related":
            part_type = media.params.get("type", "application/dicom").lower()
            if part_type in ("application/dicom", "*/*", "application/*"):
                syntaxes.add(media.params.get("transfer-syntax", str(ExplicitVRLittleEndian)))
    return syntaxes or None


def _stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        data: bytes = handle.read()
    return data


def _transcoded(name: str) -> bytes:
    return transcode_explicit_le(_stored_bytes(name))


async def _multipart_body(plan: list[tuple[Instance, bool]], boundary: str) -> AsyncIterator[bytes]:
    for index, (instance, transcode) in enumerate(plan):
        syntax = str(ExplicitVRLittleEndian) if transcode else instance.transfer_syntax_uid
        yield part_head(boundary, f"application/dicom; transfer-syntax={syntax}", first=index == 0)
        if transcode:
            yield await sync_to_async(_transcoded, thread_sensitive=False)(instance.storage_name)
            continue
        handle = await sync_to_async(default_storage.open, thread_sensitive=False)(
            instance.storage_name, "rb"
        )
        try:
            while chunk := await sync_to_async(handle.read, thread_sensitive=False)(READ_CHUNK):
                yield chunk
        finally:
            await sync_to_async(handle.close, thread_sensitive=False)()
    yield closing(boundary)


def retrieve(
    request: HttpRequest,
    caller: Caller,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> HttpResponseBase:
    """Retrieve a study, series or instance as multipart/related; type="application/dicom"."""
    found = study_get_for_user(
        user=caller.user, study_uid=study, session=caller.session, kind=ViewingKind.RETRIEVE
    )
    instances = instances_of(study=found, series_uid=series, instance_uid=instance)
    syntaxes = _acceptable_syntaxes(request.META.get("HTTP_ACCEPT", ""))
    if syntaxes is None:
        return _error(406, 'Only multipart/related; type="application/dicom" is offered.')
    plan: list[tuple[Instance, bool]] = []
    for item in instances:
        if "*" in syntaxes or item.transfer_syntax_uid in syntaxes:
            plan.append((item, False))
        elif str(ExplicitVRLittleEndian) in syntaxes and item.transfer_syntax_uid != BIG_ENDIAN:
            plan.append((item, True))
        else:
            return _error(406, f"Instances are available as {item.transfer_syntax_uid} only.")
    boundary = boundary_new()
    response = StreamingHttpResponse(
        _multipart_body(plan, boundary),
        content_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
    )
    response["Cache-Control"] = "private, no-store"
    return response


def metadata(
    request: HttpRequest,
    caller: Caller,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> HttpResponse:
    """Metadata from the database as DICOM JSON; gzip when accepted; ETag and 304."""
    found = study_get_for_user(
        user=caller.user, study_uid=study, session=caller.session, kind=ViewingKind.RETRIEVE
    )
    result = metadata_of(study=found, series_uid=series, instance_uid=instance)
    if result.etag in [t.strip() for t in request.META.get("HTTP_IF_NONE_MATCH", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        body = result.body
        if "gzip" in request.META.get("HTTP_ACCEPT_ENCODING", ""):
            response = HttpResponse(gzip.compress(body, compresslevel=5), content_type=DICOM_JSON)
            response["Content-Encoding"] = "gzip"
        else:
            response = HttpResponse(body, content_type=DICOM_JSON)
    response["ETag"] = result.etag
    response["Vary"] = "Accept-Encoding"
    response["Cache-Control"] = "private, no-cache"
    return response


# Views by URL, for imaging/urls.py.
studies_view = dicomweb({"GET": search_studies, "POST": stow})
study_view = dicomweb({"GET": retrieve, "POST": stow})
study_metadata_view = dicomweb({"GET": metadata})
study_series_view = dicomweb({"GET": search_series})
study_instances_view = dicomweb({"GET": search_instances})
series_view = dicomweb({"GET": retrieve})
series_metadata_view = dicomweb({"GET": metadata})
series_instances_view = dicomweb({"GET": search_instances})
instance_view = dicomweb({"GET": retrieve})
instance_metadata_view = dicomweb({"GET": metadata})
all_series_view = dicomweb({"GET": search_series})
all_instances_view = dicomweb({"GET": search_instances})
