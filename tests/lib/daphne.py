"""A real daphne process serving the ASGI app on the pytest database."""

import http.client
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.lib.processes import free_port, server_process


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
    daphne = Path(sys.executable).parent / "daphne"
    command = [str(daphne), "-b", "127.0.0.1", "-p", str(port), "server.asgi:application"]
    with server_process(
        command, log_path=log_path, env=extra_env or {}, ready=lambda: _is_healthy(port)
    ):
        yield f"http://127.0.0.1:{port}"
