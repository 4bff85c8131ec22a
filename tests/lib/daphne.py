"""A real daphne process serving the ASGI app on the pytest database."""

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

START_SECONDS = 30
POLL_SECONDS = 0.1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_database_url() -> str:
    """The pytest database, which exists only while the tests run, as a DATABASE_URL."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{quote(db['NAME'], safe='')}"


def _is_healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@contextmanager
def daphne_server(log_path: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Start daphne on a free loopback port against the test database; yield its base URL.

    Raises: RuntimeError with daphne's log if it does not become healthy in time.
    """
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.test_settings",
        "DATABASE_URL": test_database_url(),
        **(extra_env or {}),
    }
    daphne = Path(sys.executable).parent / "daphne"
    command = [str(daphne), "-b", "127.0.0.1", "-p", str(port), "server.asgi:application"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + START_SECONDS
            while not _is_healthy(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not become healthy:\n{log_path.read_text()}")
                time.sleep(POLL_SECONDS)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
