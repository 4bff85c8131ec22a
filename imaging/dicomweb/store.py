"""STOW-RS: every part of a request goes through the one ingest service."""

import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from imaging import dicomjson
from imaging.dicom import FailureReason
from imaging.dicomweb.common import (
    DICOM_JSON,
    READ_CHUNK,
    Caller,
    error_response,
    instance_url,
    studies_root,
    study_url,
)
from imaging.models import IngestSource
from imaging.multipart import MultipartError, media_type_parse, multipart_parse
from imaging.services import IngestResult, IngestStatus, instances_ingest
from server.access import actor_for
from server.directory.selectors import institution_get

logger = logging.getLogger(__name__)


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
        return error_response(415, 'Send multipart/related; type="application/dicom".')
    limit = settings.IMAGING_MAX_REQUEST_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > limit:
        return error_response(413, f"The request body exceeds {limit} bytes.")
    body = _read_body(request, limit)
    if body is None:
        return error_response(413, f"The request body exceeds {limit} bytes.")
    try:
        parts = multipart_parse(body, content_type.params.get("boundary", ""))
    except MultipartError as exc:
        return error_response(400, str(exc))
    if not parts:
        return error_response(400, "The request has no parts.")
    actor = actor_for(caller.user)
    dicom_parts: list[int] = []
    results: list[IngestResult | None] = []
    for part in parts:
        part_type = media_type_parse(part.content_type or "application/dicom").type
        if part_type == "application/dicom":
            dicom_parts.append(len(results))
            results.append(None)
            continue
        results.append(
            IngestResult(
                status=IngestStatus.FAILED,
                failure_reason=FailureReason.CANNOT_UNDERSTAND,
                message=f"Part of type {part_type} is not application/dicom.",
            )
        )
    stored_parts = instances_ingest(
        payloads=[parts[index].body for index in dicom_parts],
        source=IngestSource.STOW,
        institution=institution_get(institution_id=actor.institution_id) if actor else None,
        user=caller.user,
        study_instance_uid=study,
    )
    for index, result in zip(dicom_parts, stored_parts, strict=True):
        results[index] = result
    return _stow_response(request, study, [r for r in results if r is not None])


def _stow_response(
    request: HttpRequest, study: str | None, results: list[IngestResult]
) -> HttpResponse:
    for result in results:
        if not result.ok:
            logger.info("STOW-RS part refused: 0x%04X", result.failure_reason or 0)
    stored = [r for r in results if r.ok]
    status = 200 if len(stored) == len(results) else 202 if stored else 409
    root = studies_root(request)
    payload = dicomjson.stow_response(
        results,
        study_url(root, study) if study else "",
        lambda r: instance_url(
            root, r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid
        ),
    )
    return HttpResponse(
        json.dumps(payload, ensure_ascii=False), status=status, content_type=DICOM_JSON
    )
