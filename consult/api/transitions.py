"""JSON endpoints that move a consult along its lifecycle, acknowledgement included."""

from typing import Any

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult import services
from consult.api.base import request_user
from consult.api.requests import ConsultOut
from consult.errors import ConsultError
from consult.models import ConsultRequest, DeclineCode, Disposition
from server.accounts.models import User


class TransitionIn(serializers.Serializer[Any]):
    action = serializers.ChoiceField(
        choices=[
            "submit",
            "assign",
            "claim",
            "accept",
            "decline",
            "request_info",
            "answer_info",
            "schedule",
            "start_review",
            "start_session",
            "cancel",
            "mark_entered_in_error",
        ]
    )
    reason = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    reason_code = serializers.ChoiceField(
        choices=DeclineCode.choices, required=False, allow_blank=True, default=""
    )
    practitioner_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list
    )
    lead_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    better_target_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    scheduled_start = serializers.DateTimeField(required=False, allow_null=True, default=None)


class AcknowledgeIn(serializers.Serializer[Any]):
    disposition = serializers.ChoiceField(choices=Disposition.choices)
    next_steps = serializers.CharField(max_length=4000, allow_blank=True, default="")


def _run_action(user: User, consult_id: int, data: dict[str, Any]) -> ConsultRequest:
    """Call the one service that the action names."""
    reason = data["reason"]
    actions: dict[str, Any] = {
        "submit": lambda: services.consult_submit(consult_id=consult_id, actor_user=user),
        "assign": lambda: services.consult_assign(
            consult_id=consult_id,
            actor_user=user,
            practitioner_ids=data["practitioner_ids"],
            lead_id=data["lead_id"] or 0,
        ),
        "claim": lambda: services.consult_claim(consult_id=consult_id, actor_user=user),
        "accept": lambda: services.consult_accept(consult_id=consult_id, actor_user=user),
        "decline": lambda: services.consult_decline(
            consult_id=consult_id,
            actor_user=user,
            reason_code=data["reason_code"],
            reason=reason,
            better_target_id=data["better_target_id"],
        ),
        "request_info": lambda: services.consult_request_info(
            consult_id=consult_id, actor_user=user, question=reason
        ),
        "answer_info": lambda: services.consult_answer_info(
            consult_id=consult_id, actor_user=user, answer=reason
        ),
        "schedule": lambda: services.consult_schedule(
            consult_id=consult_id, actor_user=user, starts_at=data["scheduled_start"]
        ),
        "start_review": lambda: services.consult_start_review(
            consult_id=consult_id, actor_user=user
        ),
        "start_session": lambda: services.consult_start_session(
            consult_id=consult_id, actor_user=user
        ),
        "cancel": lambda: services.consult_cancel(
            consult_id=consult_id, actor_user=user, reason=reason
        ),
        "mark_entered_in_error": lambda: services.consult_mark_entered_in_error(
            consult_id=consult_id, actor_user=user, reason=reason
        ),
    }
    result: ConsultRequest = actions[data["action"]]()
    return result


class ConsultTransitionApi(APIView):
    @extend_schema(operation_id="consults_transition", request=TransitionIn, responses=ConsultOut)
    def post(self, request: Request, consult_id: int) -> Response:
        incoming = TransitionIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        if incoming.validated_data["action"] == "schedule" and not incoming.validated_data.get(
            "scheduled_start"
        ):
            raise ConsultError(gettext("Give the session's start."), field="scheduled_start")
        consult = _run_action(request_user(request), consult_id, incoming.validated_data)
        consult.refresh_from_db()
        return Response(ConsultOut(consult).data)


class AcknowledgeApi(APIView):
    @extend_schema(operation_id="consults_acknowledge", request=AcknowledgeIn, responses=ConsultOut)
    def post(self, request: Request, consult_id: int) -> Response:
        incoming = AcknowledgeIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        consult = services.consult_acknowledge(
            consult_id=consult_id, actor_user=request_user(request), **incoming.validated_data
        )
        return Response(ConsultOut(consult).data)
