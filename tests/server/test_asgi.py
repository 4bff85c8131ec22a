"""The HTTP handler: a request's synchronous work runs on one thread, kept for later requests."""

import asyncio
import threading
from typing import Any

import pytest

from server.lib.asgi import SynchronousASGIHandler
from tests.server import asgi_urls

pytestmark = pytest.mark.urls("tests.server.asgi_urls")


class _Disconnected(Exception):
    """The client went away while the response was being sent."""


async def _get(app: SynchronousASGIHandler, path: str, *, gone: bool = False) -> str:
    """Send a GET through the ASGI interface; return the body, or raise if `gone`."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    body = bytearray()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # no disconnect until the test ends
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if gone:
            raise _Disconnected
        if message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return body.decode()


async def test_requests_one_after_another_run_on_one_kept_thread() -> None:
    app = SynchronousASGIHandler()
    first = await _get(app, "/thread")
    second = await _get(app, "/thread")
    assert first == second
    assert first != threading.current_thread().name  # not the event loop's thread
    assert len(app.threads.idle) == 1


async def test_requests_at_the_same_time_run_on_threads_of_their_own() -> None:
    app = SynchronousASGIHandler()
    asgi_urls.release.clear()
    waiting = asyncio.create_task(_get(app, "/wait"))
    await asyncio.sleep(0.05)  # the first request is now held in its view
    meanwhile = await _get(app, "/thread")
    asgi_urls.release.set()
    assert await waiting != meanwhile
    assert len(app.threads.idle) == 2


async def test_a_request_that_fails_while_sending_keeps_no_thread() -> None:
    app = SynchronousASGIHandler()
    with pytest.raises(_Disconnected):
        await _get(app, "/thread", gone=True)
    assert app.threads.idle == []
    await _get(app, "/thread")
    assert len(app.threads.idle) == 1
