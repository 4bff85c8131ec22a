"""Django's HTTP handler for ASGI: the synchronous request in one hand-over to a kept thread."""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class _RequestThreads:
    """Single-thread executors for requests, kept for the next request when one finishes.

    A request's synchronous work (signals, middleware, view, closing the response) runs on one
    thread, as Django requires: its database connection is that thread's. Django's handler
    starts a thread for every request and a second one to join the first when it ends.
    """

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.idle: list[ThreadPoolExecutor] = []
        self.started = 0
        self.lock = threading.Lock()

    def take(self) -> ThreadPoolExecutor:
        with self.lock:
            if self.idle:
                return self.idle.pop()
            self.started += 1
            name = f"request-{self.started}"
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        with self.lock:
            if len(self.idle) < self.keep:
                self.idle.append(executor)
                return
        executor.shutdown(wait=False)


class SynchronousASGIHandler(ASGIHandler):
    """Serve each HTTP request with one hand-over from the event loop to a kept thread.

    Every middleware and view here is synchronous. Django's own ASGI handler, finding
    synchronous middleware, goes from the event loop to a thread for the middleware, back to
    the event loop for the view dispatcher, and to the thread again for the view: three
    hand-overs a request, two of them through the event loop that also carries every socket.
    Here the middleware chain is built as under WSGI and runs, view included, in one call.
    Reading the request body and sending the response (streamed or not) stay asynchronous.
    """

    # Threads kept idle between requests: about the concurrency one process serves.
    KEPT_THREADS = 32

    def __init__(self) -> None:
        super().__init__()
        self.threads = _RequestThreads(self.KEPT_THREADS)

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP here, not {scope['type']}.")
        executor = self.threads.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        except BaseException:
            # A view handle() gave up on may still be running there: not a thread to keep.
            executor.shutdown(wait=False)
            raise
        # handle() returns after its last synchronous call (closing the response, or the
        # request_finished signal of a cancelled request, queued behind any view still
        # running) has run on this thread: the thread is idle now.
        self.threads.give_back(executor)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await sync_to_async(self.get_response, thread_sensitive=True)(
            request
        )
        return response
