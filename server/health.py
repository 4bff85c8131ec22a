"""Liveness and readiness probes as JSON; the readiness details only to the signed-in."""

import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from server.celery import app as celery_app
from server.sql import database_ping

CHECK_TIMEOUT_SECONDS = 2


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


async def _channel_layer_round_trip() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.ping", "nonce": uuid.uuid4().hex})
    await asyncio.wait_for(layer.receive(channel), timeout=CHECK_TIMEOUT_SECONDS)


def _check_channel_layer() -> None:
    async_to_sync(_channel_layer_round_trip)()


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": database_ping,
        "channel_layer": _check_channel_layer,
        "broker": _check_broker,
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"down: {exc.__class__.__name__}: {exc}"
    ready = all(value == "ok" for value in results.values())
    body: dict[str, object] = {"status": "ready" if ready else "unavailable"}
    # A load balancer needs only the status; what is down, and at which address, is for the
    # signed-in (it names internal hosts and ports). Whether a caller is signed in is asked of
    # the database, so not while it is down: the answer is then a 503 still, not a 500.
    if results["database"] == "ok" and request.user.is_authenticated:
        body["checks"] = results
    return JsonResponse(body, status=200 if ready else 503)
