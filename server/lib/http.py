"""Page-side handling of domain errors: a hidden object is a plain 404."""

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse

from server.access import NotFound


class NotFoundMiddleware:
    """Turn the access policy's NotFound into Django's 404 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, NotFound):
            raise Http404 from exception
