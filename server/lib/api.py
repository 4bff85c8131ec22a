"""The one API handler: domain errors become JSON answers with their HTTP status.

Django REST framework calls `exception_handler` (settings `REST_FRAMEWORK["EXCEPTION_HANDLER"]`)
for every JSON endpoint of every app. A `DomainError` that names a field answers
`{field: [words], ...details}`; one that names none answers `{"detail": words}`, as DRF's own
errors do. Anything else is DRF's to answer.
"""

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from server.lib.errors import DomainError, ErrorKind

STATUS_OF_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: status.HTTP_400_BAD_REQUEST,
    ErrorKind.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    ErrorKind.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorKind.CONFLICT: status.HTTP_409_CONFLICT,
}


def error_body(error: DomainError) -> dict[str, Any]:
    """The JSON body of a domain error: its words under its field, or under "detail"."""
    body: dict[str, Any] = (
        {error.field: [error.message]} if error.field else {"detail": error.message}
    )
    body.update(error.details())
    return body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(error_body(exc), status=STATUS_OF_KIND[exc.kind])
    return drf_exception_handler(exc, context)
