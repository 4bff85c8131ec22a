"""Redis as the broker and channel layer see it: the queue on the real one, and ones that fail."""

import base64
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

from server.celery import app as celery_app
from tests.lib.processes import free_port


def queued_args(task: str) -> list[list[object]]:
    """The arguments of every `task` message waiting in the default Celery queue on Redis."""
    assert settings.REDIS_URL is not None
    broker = redis.Redis.from_url(settings.REDIS_URL)
    found = []
    for raw in broker.lrange(celery_app.conf.task_default_queue, 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == task:
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            found.append(args)
    return found


def refusing_redis_url() -> str:
    """A Redis URL on a loopback port nobody serves: every connection is refused at once."""
    return f"redis://127.0.0.1:{free_port()}/0"


@contextmanager
def silent_redis_url() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers, like a hung Redis."""
    held: list[socket.socket] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def accept() -> None:
            while True:
                try:
                    held.append(server.accept()[0])
                except OSError:  # the server socket closed: the test is over
                    return

        threading.Thread(target=accept, daemon=True).start()
        try:
            yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
        finally:
            server.shutdown(socket.SHUT_RDWR)
    for connection in held:
        connection.close()
