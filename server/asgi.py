"""ASGI entry point: HTTP to Django, WebSockets through origin check and session auth."""

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
