"""JSON and tus endpoints of the image archive: resumable browser uploads of DICOM files.

The upload endpoints speak tus 1.0.0 (https://tus.io/protocols/resumable-upload) with the
creation, termination, expiration and checksum (sha256) extensions, so browsers use the
tus-js-client library. One upload is one DICOM file; its Upload-Metadata carries `filename`
and `sha256` (the whole file's SHA-256 in hex). A GET on an upload answers, in JSON, what the
archive did with the file.

The ASGI server hands a request to Django only once its whole body arrived, so a connection
dropped during a PATCH leaves the upload at the previous piece's end; the client asks (HEAD)
and sends that piece again.
"""

import base64
import binascii
import uuid
from typing import Any

from django.conf import settings
from django.utils.http import http_date
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from imaging.errors import (
    UploadChecksumMismatch,
    UploadLimitReached,
    UploadOffsetMismatch,
    UploadRefused,
    UploadTooLarge,
)
from imaging.models import Upload, UploadState
from imaging.selectors import upload_get_for_owner
from imaging.services import upload_append, upload_create, upload_delete
from imaging.services.uploads import CHECKSUM_REFUSAL
from server.accounts.models import User

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,expiration,checksum"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# tus's "Checksum Mismatch" status, which is not a registered HTTP status.
CHECKSUM_MISMATCH = 460

# The archive's refusals in words, by Upload.refusal_reason (an ingest FailureReason name).
REFUSAL_WORDS: dict[str, Any] = {
    CHECKSUM_REFUSAL: _("The file arrived damaged (its checksum differs); send it again."),
    "CANNOT_UNDERSTAND": _("This is not a DICOM file the archive can read."),
    "TRANSFER_SYNTAX_NOT_SUPPORTED": _(
        "The file's compression (transfer syntax) is not supported."
    ),
    "DATA_SET_DOES_NOT_MATCH": _(
        "The file does not fit the study or series it names (another patient or study)."
    ),
    "DUPLICATE_SOP_INSTANCE": _("A different image with the same instance UID is already stored."),
    "NOT_AUTHORIZED": _("You may not add images to this study."),
    "OUT_OF_RESOURCES": _("The file is too large for the archive."),
    "PROCESSING_FAILURE": _("The archive could not process the file."),
}


def _user(request: Request) -> User:
    assert isinstance(request.user, User)  # IsAuthenticated let the request through
    return request.user


def _metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64value` pairs (the value may be absent)."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in header.split(","))):
        key, _space, encoded = item.partition(" ")
        try:
            pairs[key] = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise UploadRefused(_("Upload-Metadata is not valid base64.")) from None
        if "\x00" in pairs[key]:  # PostgreSQL cannot store it; no file name holds one
            raise UploadRefused(_("Upload-Metadata values may not contain a NUL byte."))
    return pairs


def _number(request: Request, header: str) -> int:
    raw = request.headers.get(header, "")
    if not raw.isdigit():
        raise UploadRefused(_("The %(header)s header must be a number.") % {"header": header})
    return int(raw)


def _checksum(request: Request) -> bytes | None:
    """The piece's SHA-256 from Upload-Checksum (`sha256 <base64>`), if the client sent one."""
    raw = request.headers.get("Upload-Checksum")
    if raw is None:
        return None
    algorithm, _space, encoded = raw.partition(" ")
    if algorithm != "sha256":
        raise UploadRefused(_("Only sha256 checksums are supported."))
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise UploadRefused(_("Upload-Checksum is not valid base64.")) from None


def _progress_headers(upload: Upload) -> dict[str, str]:
    return {
        "Upload-Offset": str(upload.offset),
        "Upload-Expires": http_date(upload.expires_at.timestamp()),
        "Cache-Control": "no-store",
    }


class TusView(APIView):
    """Every tus answer names the protocol version; upload refusals become tus's statuses.

    Other domain errors (NotFound, NotAllowed) go to the one API handler, `server/lib/api.py`.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in ("POST", "HEAD", "PATCH", "DELETE") and (
            request.headers.get("Tus-Resumable") != TUS_VERSION
        ):
            raise _VersionUnsupported

    def finalize_response(
        self, request: Request, response: Any, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        return response  # type: ignore[no-any-return]  # DRF's finalize_response is untyped

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _VersionUnsupported):
            return Response(
                {"detail": "Tus-Resumable 1.0.0 required."},
                status=status.HTTP_412_PRECONDITION_FAILED,
                headers={"Tus-Version": TUS_VERSION},
            )
        if isinstance(exc, UploadOffsetMismatch):
            return Response(
                {"detail": exc.message},
                status=status.HTTP_409_CONFLICT,
                headers={"Upload-Offset": str(exc.offset)},
            )
        if isinstance(exc, UploadChecksumMismatch):
            return Response(
                {"detail": exc.message},
                status=CHECKSUM_MISMATCH,
            )
        if isinstance(exc, UploadRefused):
            code: int = status.HTTP_400_BAD_REQUEST
            if isinstance(exc, UploadTooLarge):
                code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
            elif isinstance(exc, UploadLimitReached):
                code = status.HTTP_429_TOO_MANY_REQUESTS
            return Response({"detail": exc.message}, status=code)
        return super().handle_exception(exc)


class _VersionUnsupported(Exception):
    """The client did not speak tus 1.0.0."""


class UploadOut(serializers.ModelSerializer[Upload]):
    """What the archive did with the file: `state`, and for a refusal `message` in words."""

    message = serializers.SerializerMethodField()

    class Meta:
        model = Upload
        fields = [
            "id",
            "file_name",
            "length",
            "offset",
            "state",
            "refusal_reason",
            "message",
            "refusal_detail",
            "study_instance_uid",
            "series_instance_uid",
            "sop_instance_uid",
            "expires_at",
        ]

    def get_message(self, upload: Upload) -> str:
        if upload.state != UploadState.REFUSED:
            return ""
        return str(REFUSAL_WORDS.get(upload.refusal_reason, upload.refusal_detail))


class UploadsApi(TusView):
    @extend_schema(
        operation_id="imaging_upload_options",
        responses={204: OpenApiResponse(description="tus capabilities in headers")},
    )
    # DRF hands its Request to options() as to every handler; django-stubs type View's.
    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        return Response(
            status=status.HTTP_204_NO_CONTENT,
            headers={
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(settings.IMAGING_MAX_INSTANCE_BYTES),
                "Tus-Checksum-Algorithm": "sha256",
            },
        )

    @extend_schema(
        operation_id="imaging_upload_create",
        request=None,
        responses={201: OpenApiResponse(description="Location of the new upload")},
    )
    def post(self, request: Request) -> Response:
        metadata = _metadata(request.headers.get("Upload-Metadata", ""))
        upload = upload_create(
            user=_user(request),
            length=_number(request, "Upload-Length"),
            sha256=metadata.get("sha256", ""),
            file_name=metadata.get("filename", ""),
        )
        location = f"{request.path.rstrip('/')}/{upload.pk}"
        return Response(
            status=status.HTTP_201_CREATED,
            headers={"Location": location, **_progress_headers(upload)},
        )


class UploadApi(TusView):
    @extend_schema(operation_id="imaging_upload_offset", responses={200: None})
    def head(self, request: Request, upload_id: uuid.UUID) -> Response:
        upload = upload_get_for_owner(user=_user(request), upload_id=upload_id)
        return Response(
            headers={"Upload-Length": str(upload.length), **_progress_headers(upload)},
        )

    @extend_schema(operation_id="imaging_upload_result", responses=UploadOut)
    def get(self, request: Request, upload_id: uuid.UUID) -> Response:
        upload = upload_get_for_owner(user=_user(request), upload_id=upload_id)
        return Response(UploadOut(upload).data, headers={"Cache-Control": "no-store"})

    @extend_schema(operation_id="imaging_upload_append", request=None, responses={204: None})
    def patch(self, request: Request, upload_id: uuid.UUID) -> Response:
        if request.content_type.split(";")[0].strip() != OFFSET_CONTENT_TYPE:
            return Response(
                {"detail": f"Content-Type must be {OFFSET_CONTENT_TYPE}."},
                status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        upload = upload_append(
            user=_user(request),
            upload_id=upload_id,
            offset=_number(request, "Upload-Offset"),
            chunk=request._request.read(),
            chunk_sha256=_checksum(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT, headers=_progress_headers(upload))

    @extend_schema(operation_id="imaging_upload_delete", responses={204: None})
    def delete(self, request: Request, upload_id: uuid.UUID) -> Response:
        upload_delete(user=_user(request), upload_id=upload_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
