"""Liveness and readiness probes against the real PostgreSQL and Redis."""

import pytest
from django.test import Client

from server.celery import app as celery_app

pytestmark = pytest.mark.integration

# Nothing listens on port 1, so connecting is refused at once.
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


def test_healthz_answers_ok_without_touching_services(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_when_every_service_answers(admin_client: Client) -> None:
    response = admin_client.get("/readyz")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "channel_layer": "ok", "broker": "ok"},
    }


def test_readyz_names_the_broker_when_it_is_down(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Celery app read its settings once; its own config is where the broker URL lives now.
    monkeypatch.setattr(celery_app.conf, "broker_url", UNREACHABLE_BROKER)

    response = admin_client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"] == "ok"
    assert body["checks"]["broker"].startswith("down: "), body


def test_readyz_tells_anonymous_callers_the_status_alone(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A load balancer needs the status code; which server is down, and where, is for staff.
    monkeypatch.setattr(celery_app.conf, "broker_url", UNREACHABLE_BROKER)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
