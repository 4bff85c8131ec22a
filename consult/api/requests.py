"""JSON endpoints of consult requests: create, worklists, detail with clocks, draft edits, FHIR."""

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult import services
from consult.api.attachments import AttachmentOut, ConsultStudyOut
from consult.api.base import request_user
from consult.fhir import consult_bundle
from consult.models import (
    ASKABLE_SPECIALTIES,
    ASKABLE_TITLES,
    ConsentMethod,
    ConsentRelation,
    ConsultEvent,
    ConsultParticipant,
    ConsultRequest,
    Escalation,
    Kind,
    Mode,
    Status,
    TargetKind,
    Urgency,
)
from consult.selectors import (
    consult_clocks,
    consult_detail_for_user,
    consult_page_for_user,
)
from server.accounts.models import User
from server.directory.models import Title
from server.lib.api_bounds import ApiPagination


class ConsultIn(serializers.Serializer[Any]):
    patient_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Kind.choices)
    mode = serializers.ChoiceField(choices=Mode.choices)
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    reason = serializers.CharField(max_length=2000)
    purpose = serializers.CharField(max_length=2000)
    clinical_summary = serializers.CharField(max_length=20000)
    wanted_specialty = serializers.ChoiceField(choices=ASKABLE_SPECIALTIES)
    minimum_title = serializers.ChoiceField(choices=ASKABLE_TITLES, default=Title.ATTENDING)
    target_kind = serializers.ChoiceField(choices=TargetKind.choices)
    target_practitioner_id = serializers.IntegerField(required=False, allow_null=True)
    target_department_id = serializers.IntegerField(required=False, allow_null=True)
    preferred_start = serializers.DateTimeField(required=False, allow_null=True)
    preferred_end = serializers.DateTimeField(required=False, allow_null=True)
    consent_signer = serializers.CharField(max_length=100, required=False, allow_blank=True)
    consent_relation = serializers.ChoiceField(
        choices=ConsentRelation.choices, required=False, allow_blank=True
    )
    consent_method = serializers.ChoiceField(
        choices=ConsentMethod.choices, required=False, allow_blank=True
    )
    emergency_waiver = serializers.BooleanField(default=False)
    waiver_reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ConsultDraftPatchIn(ConsultIn):
    """Some fields of a draft; unknown ones are refused by name rather than ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class ParticipantOut(serializers.ModelSerializer[ConsultParticipant]):
    name = serializers.CharField(source="practitioner.display_name")

    class Meta:
        model = ConsultParticipant
        fields = ["practitioner_id", "name", "is_lead", "invited_at", "ended_at"]


class EventOut(serializers.ModelSerializer[ConsultEvent]):
    class Meta:
        model = ConsultEvent
        fields = ["from_status", "to_status", "actor_id", "reason_code", "reason", "at"]


class EscalationOut(serializers.ModelSerializer[Escalation]):
    class Meta:
        model = Escalation
        fields = ["deadline", "due_at", "escalated_at"]


class ConsultOut(serializers.ModelSerializer[ConsultRequest]):
    patient_name = serializers.CharField(source="patient.name")
    requester_name = serializers.CharField(source="requester.display_name")

    class Meta:
        model = ConsultRequest
        fields = [
            "id",
            "kind",
            "mode",
            "urgency",
            "status",
            "patient_id",
            "patient_name",
            "requester_id",
            "requester_name",
            "inviting_institution_id",
            "wanted_specialty",
            "target_kind",
            "created_at",
        ]


class ClockOut(serializers.Serializer[Any]):
    started_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    stopped_at = serializers.DateTimeField(allow_null=True)
    paused = serializers.BooleanField()
    turnaround_seconds = serializers.IntegerField(allow_null=True)


class ConsultDetailOut(ConsultOut):
    participants = ParticipantOut(many=True)
    events = EventOut(many=True)
    attachments = AttachmentOut(many=True)
    studies = ConsultStudyOut(many=True)
    escalations = EscalationOut(many=True)

    class Meta(ConsultOut.Meta):
        fields = [
            *ConsultOut.Meta.fields,
            "reason",
            "purpose",
            "clinical_summary",
            "minimum_title",
            "preferred_start",
            "preferred_end",
            "target_practitioner_id",
            "target_department_id",
            "consent_signer",
            "consent_relation",
            "consent_method",
            "emergency_waiver",
            "waiver_reason",
            "consent_follow_up_due",
            "info_request",
            "scheduled_start",
            "disposition",
            "next_steps",
            "acknowledged_at",
            "participants",
            "events",
            "attachments",
            "studies",
            "escalations",
        ]


class ConsultDetailWithClocksOut(serializers.Serializer[Any]):
    consult = ConsultDetailOut()
    accept_clock = ClockOut(allow_null=True)
    opinion_clock = ClockOut(allow_null=True)


WORKLISTS = ["all", "incoming", "queue", "my_requests", "overdue"]


class ConsultListApi(GenericAPIView[ConsultRequest]):
    pagination_class = ApiPagination
    serializer_class = ConsultOut

    def get_queryset(self) -> QuerySet[ConsultRequest]:
        return ConsultRequest.objects.none()

    @extend_schema(
        operation_id="consults_list",
        parameters=[
            OpenApiParameter("worklist", str, enum=WORKLISTS, description="Default: all"),
            OpenApiParameter("status", str, enum=Status.values),
        ],
        responses=ConsultOut(many=True),
    )
    def get(self, request: Request) -> Response:
        worklist = request.query_params.get("worklist", "all")
        wanted_status = request.query_params.get("status", "")
        if worklist not in WORKLISTS:
            raise serializers.ValidationError({"worklist": [f"Choose one of {WORKLISTS}."]})
        if wanted_status and wanted_status not in Status.values:
            raise serializers.ValidationError({"status": ["Unknown status."]})
        consults = consult_page_for_user(
            user=request_user(request),
            worklist=worklist,  # type: ignore[arg-type]  # checked against WORKLISTS above
            status=wanted_status,
        )
        page = self.paginate_queryset(consults) or []
        services.consult_list_record(user=request_user(request), consult_ids=[c.pk for c in page])
        return self.get_paginated_response(ConsultOut(page, many=True).data)

    @extend_schema(operation_id="consults_create", request=ConsultIn, responses={201: ConsultOut})
    def post(self, request: Request) -> Response:
        incoming = ConsultIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        draft = services.ConsultDraft(**incoming.validated_data)
        consult = services.consult_request_create(actor_user=request_user(request), draft=draft)
        return Response(ConsultOut(consult).data, status=status.HTTP_201_CREATED)


def _clock(clock: Any) -> dict[str, Any] | None:
    if clock is None:
        return None
    turnaround = clock.turnaround
    return {
        "started_at": clock.started_at,
        "due_at": clock.due_at,
        "stopped_at": clock.stopped_at,
        "paused": clock.paused,
        "turnaround_seconds": int(turnaround.total_seconds()) if turnaround else None,
    }


class ConsultDetailApi(APIView):
    @extend_schema(operation_id="consults_retrieve", responses=ConsultDetailWithClocksOut)
    def get(self, request: Request, consult_id: int) -> Response:
        return Response(_detail_body(request_user(request), consult_id))

    @extend_schema(
        operation_id="consults_draft_update",
        request=ConsultDraftPatchIn,
        responses={
            200: ConsultDetailWithClocksOut,
            409: OpenApiResponse(description="The consult is no longer a draft"),
        },
    )
    def patch(self, request: Request, consult_id: int) -> Response:
        incoming = ConsultDraftPatchIn(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        services.consult_draft_update(
            actor_user=request_user(request), consult_id=consult_id, **incoming.validated_data
        )
        return Response(_detail_body(request_user(request), consult_id))


def _detail_body(user: User, consult_id: int) -> dict[str, Any]:
    consult = consult_detail_for_user(user=user, consult_id=consult_id)
    clocks = consult_clocks(consult=consult, events=list(consult.events.all()))
    body = {
        "consult": consult,
        "accept_clock": _clock(clocks.accept),
        "opinion_clock": _clock(clocks.opinion),
    }
    data: dict[str, Any] = ConsultDetailWithClocksOut(body).data
    return data


class FhirApi(APIView):
    @extend_schema(
        operation_id="consults_fhir",
        responses={200: {"type": "object", "description": "FHIR R4 Bundle"}},
    )
    def get(self, request: Request, consult_id: int) -> Response:
        consult = consult_detail_for_user(user=request_user(request), consult_id=consult_id)
        bundle = consult_bundle(
            consult,
            list(consult.participants.all()),
            [link.study.study_instance_uid for link in consult.studies.all()],
        )
        return Response(bundle, content_type="application/fhir+json")
