"""Response headers of every door (issue 15, item 8): the Content-Security-Policy the pages and
the viewer live with, and nothing with patient data kept in a cache."""

import pytest
from django.test import Client

from tests.conftest import World

pytestmark = pytest.mark.usefixtures("built_assets")


def _policy(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: sources}."""
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def _signed_in(client: Client, world: World) -> Client:
    client.force_login(world.clinic_doctor)
    return client


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/", "/api/v1/me/", "/patients/", "/no-such-page/"]
)
def test_every_answer_carries_the_content_security_policy(
    client: Client, world: World, path: str
) -> None:
    response = _signed_in(client, world).get(path)

    policy = _policy(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    # Our scripts only, and WebAssembly for the viewer's codecs; nothing inline, no eval.
    assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    assert policy["worker-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_pages_and_the_json_api_are_not_stored_by_caches(client: Client, world: World) -> None:
    signed_in = _signed_in(client, world)

    for path in ["/", "/patients/", f"/patients/{world.patient.pk}/", "/api/v1/me/"]:
        response = signed_in.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "no-store", path


def test_an_answer_that_sets_its_own_caching_keeps_it(client: Client, world: World) -> None:
    response = client.get("/healthz")

    assert "no-cache" in response["Cache-Control"]
    assert "max-age=0" in response["Cache-Control"]


def test_anonymous_readiness_is_a_bare_status(client: Client, db: None) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_anonymous_visitors_read_neither_the_schema_nor_the_api_docs(
    client: Client, db: None
) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 401
    assert b"paths" not in schema.content
    assert (docs.status_code, docs["Location"]) == (302, "/accounts/login/?next=/api/docs/")


def test_the_api_docs_page_runs_no_inline_script(client: Client, world: World) -> None:
    response = _signed_in(client, world).get("/api/docs/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<script>" not in page
    assert "<style>" not in page
