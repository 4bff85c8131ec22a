"""Views for the ASGI handler tests: each answers with the name of the thread it ran on."""

import threading

from django.http import HttpRequest, HttpResponse
from django.urls import path

# Set by the test that holds a request in its view until the next request has run.
release = threading.Event()


def thread_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(threading.current_thread().name)


def waiting_view(request: HttpRequest) -> HttpResponse:
    if not release.wait(timeout=10):
        return HttpResponse("never released", status=500)
    return HttpResponse(threading.current_thread().name)


urlpatterns = [path("thread", thread_view), path("wait", waiting_view)]
