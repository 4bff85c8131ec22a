"""WebSocket routes of consults."""

from django.urls import path

from consult.consumers import ConsultConsumer

websocket_urlpatterns = [
    # django-stubs types path() for HTTP views; Channels routes ASGI applications with it.
    path("ws/consults/<int:consult_id>/", ConsultConsumer.as_asgi()),  # type: ignore[arg-type]
]
