"""The one page helper: domain errors shown on server-rendered pages, in their own words.

`page_error` puts a `DomainError` on the form field it names (or on the whole form), or, for a
page that redirects, in a message shown after the redirect. A hidden object is a plain 404 page
(`NotFoundMiddleware`).
"""

from collections.abc import Callable, Mapping

from django.contrib import messages
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse

from server.lib.errors import DomainError, ErrorKind


def page_error(
    request: HttpRequest,
    error: DomainError,
    *,
    form: BaseForm | None = None,
    fields: Mapping[str, str] | None = None,
) -> None:
    """Show the error's words on `form` at the field it names, else as a message.

    `fields` maps a service's input names to the form's where they differ; an error about an
    input the form does not have goes on the form as a whole.
    """
    if form is None:
        messages.error(request, error.message)
        return
    name = (fields or {}).get(error.field, error.field)
    form.add_error(name if name in form.fields else None, error.message)


class NotFoundMiddleware:
    """Turn the access policy's NotFound into Django's 404 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, DomainError) and exception.kind is ErrorKind.NOT_FOUND:
            raise Http404 from exception
