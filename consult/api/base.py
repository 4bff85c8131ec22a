"""What every consult endpoint shares: the signed-in user, domain errors as 400/409, binary
renderers."""

from collections.abc import Mapping
from typing import Any

from rest_framework import status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.errors import ConsultError, NotEditable
from server.accounts.models import User


def request_user(request: Request) -> User:
    """The signed-in user of a request that IsAuthenticated (the default permission) let through."""
    assert isinstance(request.user, User)
    return request.user


class ConsultApiView(APIView):
    """Domain refusals become 400s that name the field at fault (409 when the consult's state
    no longer allows the change)."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, NotEditable):
            return Response({exc.field: [exc.message]}, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, ConsultError):
            return Response({exc.field: [exc.message]}, status=status.HTTP_400_BAD_REQUEST)
        return super().handle_exception(exc)


class PdfRenderer(BaseRenderer):
    """Lets clients ask for `Accept: application/pdf`; the PDF view answers with the bytes."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        # Only errors reach a renderer here; they go out as JSON bytes.
        rendered: bytes = JSONRenderer().render(data)
        return rendered
