"""Django's HTTP handler for ASGI, with the whole synchronous request in one worker thread."""

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class SynchronousASGIHandler(ASGIHandler):
    """Serve each HTTP request with one hand-over from the event loop to a thread.

    Every middleware and view here is synchronous. Django's own ASGI handler, finding
    synchronous middleware, goes from the event loop to a thread for the middleware, back to
    the event loop for the view dispatcher, and to the thread again for the view: three
    hand-overs a request, two of them through the event loop that also carries every socket.
    Here the middleware chain is built as under WSGI and runs, view included, in one call.
    Reading the request body and sending the response (streamed or not) stay asynchronous.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await sync_to_async(self.get_response, thread_sensitive=True)(
            request
        )
        return response
