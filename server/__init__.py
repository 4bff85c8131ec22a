"""The Yunzhen Django project: settings, routing, Celery and the shared domain."""

from server.celery import app as celery_app

__all__ = ["celery_app"]
