"""WADO-RS retrieval of studies, series and instances (multipart) and their metadata."""

import gzip
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from pydicom.uid import UID, ExplicitVRLittleEndian

from imaging.budget import HOLD_WAIT_SECONDS
from imaging.dicom import transcode_explicit_le
from imaging.dicomweb.common import (
    DICOM_JSON,
    READ_CHUNK,
    Caller,
    decode_budget,
    error_response,
    stored_bytes,
    too_large_response,
)
from imaging.models import Instance, ViewingKind
from imaging.multipart import accept_parse, boundary_new, closing, part_head
from imaging.selectors import instances_of, metadata_of, study_get_for_user, transcode_costs

# Retired Explicit VR Big Endian: served only as stored (pydicom cannot re-encode it).
BIG_ENDIAN = "1.2.840.10008.1.2.2"


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


def _transcoded(name: str, cost: int) -> bytes:
    """The stored instance in Explicit VR Little Endian, holding its decode's memory."""
    with decode_budget().hold(cost, wait=HOLD_WAIT_SECONDS):
        return transcode_explicit_le(
            stored_bytes(name), max_bytes=settings.IMAGING_DECODE_MAX_BYTES
        )


async def _multipart_body(
    plan: list[tuple[Instance, bool]], costs: dict[int, int], boundary: str
) -> AsyncIterator[bytes]:
    for index, (instance, transcode) in enumerate(plan):
        syntax = str(ExplicitVRLittleEndian) if transcode else instance.transfer_syntax_uid
        yield part_head(boundary, f"application/dicom; transfer-syntax={syntax}", first=index == 0)
        if transcode:
            yield await sync_to_async(_transcoded, thread_sensitive=False)(
                instance.storage_name, costs.get(instance.pk, 0)
            )
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


def _decompresses(instance: Instance) -> bool:
    return UID(instance.transfer_syntax_uid).is_compressed


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
        return error_response(406, 'Only multipart/related; type="application/dicom" is offered.')
    plan: list[tuple[Instance, bool]] = []
    for item in instances:
        if "*" in syntaxes or item.transfer_syntax_uid in syntaxes:
            plan.append((item, False))
        elif str(ExplicitVRLittleEndian) in syntaxes and item.transfer_syntax_uid != BIG_ENDIAN:
            plan.append((item, True))
        else:
            return error_response(
                406, f"Instances are available as {item.transfer_syntax_uid} only."
            )
    # Decompressing is refused before anything is sent: a response cut halfway says less.
    costs = transcode_costs(
        instance_ids=[i.pk for i, transcode in plan if transcode and _decompresses(i)]
    )
    limit = settings.IMAGING_DECODE_MAX_BYTES
    if costs and max(costs.values()) > limit:
        return too_large_response(max(costs.values()), limit, "as stored (transfer-syntax=*)")
    boundary = boundary_new()
    response = StreamingHttpResponse(
        _multipart_body(plan, costs, boundary),
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
