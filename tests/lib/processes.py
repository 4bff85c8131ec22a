"""Servers under test as real processes on the pytest database."""

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
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


def database_url_of_test_run() -> str:
    """The pytest database, which exists only while the tests run, as a DATABASE_URL."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{quote(db['NAME'], safe='')}"


@contextmanager
def server_process(
    command: list[str], *, log_path: Path, env: dict[str, str], ready: Callable[[], bool]
) -> Iterator[None]:
    """Run `command` against the test database until the block ends, once `ready()` holds.

    Raises: RuntimeError with the process's log if it exits or is not ready in time.
    """
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.test_settings",
        "DATABASE_URL": database_url_of_test_run(),
        **env,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + START_SECONDS
            while not ready():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{command[0]} did not become ready:\n{log_path.read_text()}"
                    )
                time.sleep(POLL_SECONDS)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
