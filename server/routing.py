"""WebSocket routes of every app, gathered in one place."""

from server.notifications.routing import websocket_urlpatterns as notification_routes

websocket_urlpatterns = [*notification_routes]
