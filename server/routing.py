"""WebSocket routes of every app, gathered in one place."""

from consult.routing import websocket_urlpatterns as consult_routes
from server.notifications.routing import websocket_urlpatterns as notification_routes

websocket_urlpatterns = [*notification_routes, *consult_routes]
