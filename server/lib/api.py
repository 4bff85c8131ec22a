"""Shared REST API plumbing: domain errors become clear HTTP answers."""

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from server.access import NotFound
from server.directory.errors import NotAllowed, PatientAlreadyRegistered


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, NotFound):
        return Response({"detail": _("Not found.")}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, NotAllowed):
        return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, PatientAlreadyRegistered):
        body: dict[str, Any] = {exc.field: [exc.message]}
        if exc.patient_id is not None:
            body["patient_id"] = exc.patient_id
        return Response(body, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)
