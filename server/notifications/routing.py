from django.urls import path

from server.notifications.consumers import UserEventsConsumer

websocket_urlpatterns = [
    # django-stubs types path() for HTTP views; Channels routes ASGI applications with it.
    path("ws/events/", UserEventsConsumer.as_asgi()),  # type: ignore[arg-type]
]
