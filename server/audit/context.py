"""Per-request audit context (the client's address), carried in a context variable."""

from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

client_address: ContextVar[str] = ContextVar("audit_client_address", default="")


class AuditContextMiddleware:
    """Remember the caller's address so services can audit without passing the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = client_address.set(request.META.get("REMOTE_ADDR", ""))
        try:
            return self.get_response(request)
        finally:
            client_address.reset(token)
