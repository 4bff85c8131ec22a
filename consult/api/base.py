"""What every consult endpoint shares: the signed-in user and the PDF renderer.

Domain errors become answers in the one API handler, `server/lib/api.py`.
"""

from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

from server.accounts.models import User


def request_user(request: Request) -> User:
    """The signed-in user of a request that IsAuthenticated (the default permission) let through."""
    assert isinstance(request.user, User)
    return request.user


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
