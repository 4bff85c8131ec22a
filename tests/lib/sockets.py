"""Helpers for tests that open WebSockets through the real ASGI stack."""

from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client

from server.accounts.models import User

# An origin the AllowedHostsOriginValidator accepts under the test settings.
ORIGIN = (b"origin", b"http://localhost")


def session_cookie(user: User) -> bytes:
    """A Cookie header value carrying a fresh signed-in session of the user."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.fixture
async def close_thread_connections() -> AsyncIterator[None]:
    """Close the connection Channels' auth opened in its sync worker thread, after the test.

    Otherwise it outlives the test and the test database cannot be dropped at the end.
    """
    yield
    await sync_to_async(connections.close_all)()
