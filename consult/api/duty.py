"""JSON endpoint of a specialist's duty: whether automatic routing sends them consults."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult import services
from consult.api.base import request_user


class DutyIn(serializers.Serializer[Any]):
    on_duty = serializers.BooleanField()


class DutyOut(serializers.Serializer[Any]):
    on_duty = serializers.BooleanField()


class DutyApi(APIView):
    @extend_schema(operation_id="consults_duty_set", request=DutyIn, responses=DutyOut)
    def put(self, request: Request) -> Response:
        incoming = DutyIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        duty = services.specialist_duty_set(
            actor_user=request_user(request), on_duty=incoming.validated_data["on_duty"]
        )
        return Response(DutyOut({"on_duty": duty.on_duty}).data)
