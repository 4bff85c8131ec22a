"""ASGI entry point: HTTP to Django, WebSockets through origin check and session auth.

HTTP goes through `server.lib.asgi.SynchronousASGIHandler`, not Django's own ASGI handler: each
request runs its whole middleware chain and view in one hand-over to a kept thread (it needs
asgiref 3.13 or newer, for `ThreadSensitiveContext(executor=...)`). What it does not support:
- asynchronous middleware: the chain is built synchronous, so an async-only middleware would be
  adapted with `async_to_sync` on every request;
- asynchronous views gain nothing: Django runs an `async def` view with `async_to_sync` on the
  request's thread, so it blocks that thread like a synchronous one (live work belongs in a
  Channels consumer);
- any ASGI scope but "http" and "websocket" (no lifespan events).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
django.setup(set_prefix=False)

# Imported after Django is set up: consumers import models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from server.lib.asgi import SynchronousASGIHandler  # noqa: E402
from server.lib.startup import process_ready  # noqa: E402
from server.routing import websocket_urlpatterns  # noqa: E402

process_ready()

application = ProtocolTypeRouter(
    {
        "http": SynchronousASGIHandler(),
        "websocket": AllowedHostsOriginValidator(
            # URLRouter's stubs expect Channels' own pattern type; these are Django's path().
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))  # type: ignore[arg-type]
        ),
    }
)
