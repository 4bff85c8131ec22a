"""Static files through a real daphne in development (`make run`: DEBUG, WhiteNoise finding the
frontend build through STATICFILES_DIRS): compressed scripts, and a favicon."""

import gzip
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import brotli  # type: ignore[import-untyped]
import pytest
from django.conf import settings

from tests.lib.daphne import daphne_server

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("built_assets")]


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # server.test_settings sets DEBUG=1, so WhiteNoise serves through the staticfiles finders.
    with daphne_server(tmp_path_factory.mktemp("daphne") / "daphne.log") as url:
        yield url


def _body(
    base_url: str, path: str, headers: dict[str, str]
) -> tuple[http.client.HTTPResponse, bytes]:
    """One GET with exactly these headers; the body as sent (a browser would decode it)."""
    netloc = urlsplit(base_url)
    conn = http.client.HTTPConnection(netloc.hostname or "", netloc.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def _largest_script() -> str:
    """The build's largest hashed script (the viewer's Cornerstone chunk), as dist/-relative."""
    dist = Path(settings.FRONTEND_DIST)
    manifest = json.loads((dist / ".vite" / "manifest.json").read_text(encoding="utf-8"))
    scripts = {str(chunk["file"]) for chunk in manifest.values() if chunk["file"].endswith(".js")}
    return max(scripts, key=lambda name: (dist / name).stat().st_size)


def test_hashed_script_is_sent_gzipped_to_a_browser_that_accepts_gzip(server: str) -> None:
    name = _largest_script()
    original = (Path(settings.FRONTEND_DIST) / name).read_bytes()

    response, body = _body(server, f"/static/{name}", {"Accept-Encoding": "gzip, deflate"})

    assert response.status == 200
    assert response.getheader("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in (response.getheader("Vary") or "")
    assert response.getheader("Content-Type", "").startswith("text/javascript")
    assert len(body) < len(original) / 2
    assert gzip.decompress(body) == original


def test_hashed_script_is_sent_as_brotli_when_accepted_and_plain_otherwise(server: str) -> None:
    name = _largest_script()
    original = (Path(settings.FRONTEND_DIST) / name).read_bytes()

    br_response, br_body = _body(server, f"/static/{name}", {"Accept-Encoding": "gzip, br"})
    plain_response, plain_body = _body(server, f"/static/{name}", {})

    assert br_response.getheader("Content-Encoding") == "br"
    assert brotli.decompress(br_body) == original
    assert plain_response.status == 200
    assert plain_response.getheader("Content-Encoding") is None
    assert plain_body == original


def test_stylesheet_is_sent_gzipped(server: str) -> None:
    dist = Path(settings.FRONTEND_DIST)
    name = max(
        (str(p.relative_to(dist)) for p in (dist / "assets").glob("*.css")),
        key=lambda n: (dist / n).stat().st_size,
    )

    response, body = _body(server, f"/static/{name}", {"Accept-Encoding": "gzip"})

    assert response.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(body) == (dist / name).read_bytes()


def test_favicon_is_an_image_and_favicon_ico_leads_to_it(server: str) -> None:
    ico, _ = _body(server, "/favicon.ico", {})
    location = ico.getheader("Location") or ""
    icon, body = _body(server, location, {})

    assert ico.status == 301
    assert location == "/static/favicon.svg"
    assert icon.status == 200
    assert icon.getheader("Content-Type", "").startswith("image/svg+xml")
    assert body.startswith(b"<svg")


def test_pages_name_the_favicon(server: str) -> None:
    response, body = _body(server, "/accounts/login/", {})

    assert response.status == 200
    assert b'<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in body


def test_hashed_assets_keep_their_long_cache_and_carry_the_policy(server: str) -> None:
    # A Web Worker runs under its own script's policy: the decoders need 'wasm-unsafe-eval'.
    worker = next(
        str(p.relative_to(settings.FRONTEND_DIST))
        for p in (Path(settings.FRONTEND_DIST) / "assets").glob("firstDecode.worker-*.js")
    )

    response, _ = _body(server, f"/static/{worker}", {})

    assert response.status == 200
    cache = response.getheader("Cache-Control") or ""
    assert "immutable" in cache
    assert "max-age=315360000" in cache
    assert "'wasm-unsafe-eval'" in (response.getheader("Content-Security-Policy") or "")


def test_pages_through_daphne_are_not_stored_and_carry_the_policy(server: str) -> None:
    response, _ = _body(server, "/patients/", {})

    assert response.status == 302
    assert response.getheader("Cache-Control") == "no-store"
    assert "frame-ancestors 'none'" in (response.getheader("Content-Security-Policy") or "")
