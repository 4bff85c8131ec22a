"""JSON endpoints of consults: requests, worklists, transitions, opinions, FHIR view."""

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult import services
from consult.errors import ConsultError, NotEditable
from consult.fhir import consult_bundle
from consult.models import (
    OPINION_LABEL,
    AttachmentKind,
    ConsentMethod,
    ConsentRelation,
    ConsultAttachment,
    ConsultEvent,
    ConsultParticipant,
    ConsultRequest,
    ConsultStudy,
    DeclineCode,
    Disposition,
    Escalation,
    Kind,
    Mode,
    OpinionVersion,
    Status,
    TargetKind,
    Urgency,
)
from consult.pdf import opinion_pdf_export
from consult.selectors import (
    consult_clocks,
    consult_detail_for_user,
    consult_get_for_user,
    consult_list_audit,
    consult_page_for_user,
)
from server.accounts.models import User
from server.directory.models import Specialty, Title


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


class ConsultApiView(APIView):
    """Domain refusals become 400s that name the field at fault (409 when the consult's state
    no longer allows the change)."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, NotEditable):
            return Response({exc.field: [exc.message]}, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, ConsultError):
            return Response({exc.field: [exc.message]}, status=status.HTTP_400_BAD_REQUEST)
        return super().handle_exception(exc)


# --- Serializers ----------------------------------------------------------------------------


class ConsultIn(serializers.Serializer[Any]):
    patient_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Kind.choices)
    mode = serializers.ChoiceField(choices=Mode.choices)
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    reason = serializers.CharField(max_length=2000)
    purpose = serializers.CharField(max_length=2000)
    clinical_summary = serializers.CharField(max_length=20000)
    wanted_specialty = serializers.ChoiceField(choices=Specialty.choices)
    minimum_title = serializers.ChoiceField(choices=Title.choices, default=Title.ATTENDING)
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


class AttachmentOut(serializers.ModelSerializer[ConsultAttachment]):
    class Meta:
        model = ConsultAttachment
        fields = ["id", "kind", "content_type", "size", "sha256", "uploaded_at"]


class ConsultStudyOut(serializers.ModelSerializer[ConsultStudy]):
    study_instance_uid = serializers.CharField(source="study.study_instance_uid")
    study_date = serializers.DateField(source="study.study_date", allow_null=True)
    study_description = serializers.CharField(source="study.study_description")
    modalities_in_study = serializers.CharField(source="study.modalities_in_study")
    series_count = serializers.IntegerField(source="study.series_count")
    instance_count = serializers.IntegerField(source="study.instance_count")

    class Meta:
        model = ConsultStudy
        fields = [
            "study_instance_uid",
            "study_date",
            "study_description",
            "modalities_in_study",
            "series_count",
            "instance_count",
            "attached_by_id",
            "attached_at",
        ]


class ConsultStudyIn(serializers.Serializer[Any]):
    study_instance_uid = serializers.RegexField(r"^[0-9.]{1,64}$")


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


class OpinionSectionsIn(serializers.Serializer[Any]):
    findings = serializers.CharField(max_length=20000, allow_blank=True, default="")
    impression = serializers.CharField(max_length=20000, allow_blank=True, default="")
    recommendations = serializers.CharField(max_length=20000, allow_blank=True, default="")
    referral_advised = serializers.BooleanField(default=False)
    follow_up_advice = serializers.CharField(max_length=20000, allow_blank=True, default="")
    amendment_reason = serializers.CharField(max_length=2000, allow_blank=True, default="")


class OpinionVersionOut(serializers.ModelSerializer[OpinionVersion]):
    heading = serializers.SerializerMethodField()

    class Meta:
        model = OpinionVersion
        fields = [
            "heading",
            "number",
            "findings",
            "impression",
            "recommendations",
            "referral_advised",
            "follow_up_advice",
            "amendment_reason",
            "contributions",
            "signed_by_id",
            "signed_at",
            "content_sha256",
        ]

    def get_heading(self, version: OpinionVersion) -> str:
        return OPINION_LABEL


class SignIn(serializers.Serializer[Any]):
    password = serializers.CharField(max_length=200, trim_whitespace=False)


class ContributionIn(serializers.Serializer[Any]):
    text = serializers.CharField(max_length=20000)


class AcknowledgeIn(serializers.Serializer[Any]):
    disposition = serializers.ChoiceField(choices=Disposition.choices)
    next_steps = serializers.CharField(max_length=4000, allow_blank=True, default="")


class AttachmentIn(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=AttachmentKind.choices)
    file = serializers.FileField()


class DutyIn(serializers.Serializer[Any]):
    on_duty = serializers.BooleanField()


class DutyOut(serializers.Serializer[Any]):
    on_duty = serializers.BooleanField()


# --- Views ----------------------------------------------------------------------------------

WORKLISTS = ["all", "incoming", "queue", "my_requests", "overdue"]


class ConsultListApi(GenericAPIView[ConsultRequest], ConsultApiView):
    pagination_class = LimitOffsetPagination
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
            user=_user(request),
            worklist=worklist,  # type: ignore[arg-type]  # checked against WORKLISTS above
            status=wanted_status,
        )
        page = self.paginate_queryset(consults) or []
        consult_list_audit(user=_user(request), consult_ids=[c.pk for c in page])
        return self.get_paginated_response(ConsultOut(page, many=True).data)

    @extend_schema(operation_id="consults_create", request=ConsultIn, responses={201: ConsultOut})
    def post(self, request: Request) -> Response:
        incoming = ConsultIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        draft = services.ConsultDraft(**incoming.validated_data)
        consult = services.consult_request_create(actor_user=_user(request), draft=draft)
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


class ConsultDetailApi(ConsultApiView):
    @extend_schema(operation_id="consults_retrieve", responses=ConsultDetailWithClocksOut)
    def get(self, request: Request, consult_id: int) -> Response:
        return Response(_detail_body(_user(request), consult_id))

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
            actor_user=_user(request), consult_id=consult_id, **incoming.validated_data
        )
        return Response(_detail_body(_user(request), consult_id))


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


class ConsultTransitionApi(ConsultApiView):
    @extend_schema(operation_id="consults_transition", request=TransitionIn, responses=ConsultOut)
    def post(self, request: Request, consult_id: int) -> Response:
        incoming = TransitionIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        if incoming.validated_data["action"] == "schedule" and not incoming.validated_data.get(
            "scheduled_start"
        ):
            raise ConsultError("Give the session's start.", field="scheduled_start")
        consult = _run_action(_user(request), consult_id, incoming.validated_data)
        consult.refresh_from_db()
        return Response(ConsultOut(consult).data)


class OpinionApi(ConsultApiView):
    @extend_schema(operation_id="consults_opinion_versions", responses=OpinionVersionOut(many=True))
    def get(self, request: Request, consult_id: int) -> Response:
        consult = consult_get_for_user(user=_user(request), consult_id=consult_id)
        signed = OpinionVersion.objects.filter(
            opinion__consult=consult, signed_at__isnull=False
        ).order_by("number")
        return Response(OpinionVersionOut(signed, many=True).data)


class OpinionDraftApi(ConsultApiView):
    @extend_schema(
        operation_id="consults_opinion_draft_save",
        request=OpinionSectionsIn,
        responses=OpinionVersionOut,
    )
    def put(self, request: Request, consult_id: int) -> Response:
        incoming = OpinionSectionsIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        amendment_reason = data.pop("amendment_reason")
        version = services.opinion_draft_save(
            consult_id=consult_id,
            actor_user=_user(request),
            sections=services.OpinionSections(**data),
            amendment_reason=amendment_reason,
        )
        return Response(OpinionVersionOut(version).data)


class OpinionContributionApi(ConsultApiView):
    @extend_schema(
        operation_id="consults_opinion_contribute", request=ContributionIn, responses={204: None}
    )
    def put(self, request: Request, consult_id: int) -> Response:
        incoming = ContributionIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.opinion_contribute(
            consult_id=consult_id, actor_user=_user(request), text=incoming.validated_data["text"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class OpinionSignApi(ConsultApiView):
    @extend_schema(
        operation_id="consults_opinion_sign", request=SignIn, responses=OpinionVersionOut
    )
    def post(self, request: Request, consult_id: int) -> Response:
        incoming = SignIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        version = services.opinion_sign(
            consult_id=consult_id,
            actor_user=_user(request),
            password=incoming.validated_data["password"],
        )
        return Response(OpinionVersionOut(version).data)


class AcknowledgeApi(ConsultApiView):
    @extend_schema(operation_id="consults_acknowledge", request=AcknowledgeIn, responses=ConsultOut)
    def post(self, request: Request, consult_id: int) -> Response:
        incoming = AcknowledgeIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        consult = services.consult_acknowledge(
            consult_id=consult_id, actor_user=_user(request), **incoming.validated_data
        )
        return Response(ConsultOut(consult).data)


class AttachmentApi(ConsultApiView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="consults_attachment_add",
        request={"multipart/form-data": AttachmentIn},
        responses={201: AttachmentOut},
    )
    def post(self, request: Request, consult_id: int) -> Response:
        incoming = AttachmentIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        attachment = services.consult_attachment_add(
            consult_id=consult_id,
            actor_user=_user(request),
            kind=incoming.validated_data["kind"],
            upload=incoming.validated_data["file"],
        )
        return Response(AttachmentOut(attachment).data, status=status.HTTP_201_CREATED)


class StudiesApi(ConsultApiView):
    @extend_schema(operation_id="consults_studies_list", responses=ConsultStudyOut(many=True))
    def get(self, request: Request, consult_id: int) -> Response:
        consult = consult_detail_for_user(user=_user(request), consult_id=consult_id)
        return Response(ConsultStudyOut(consult.studies.all(), many=True).data)

    @extend_schema(
        operation_id="consults_study_attach",
        request=ConsultStudyIn,
        responses={201: ConsultStudyOut},
    )
    def post(self, request: Request, consult_id: int) -> Response:
        incoming = ConsultStudyIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        link = services.consult_study_attach(
            consult_id=consult_id,
            study_instance_uid=incoming.validated_data["study_instance_uid"],
            actor_user=_user(request),
        )
        return Response(ConsultStudyOut(link).data, status=status.HTTP_201_CREATED)


class FhirApi(ConsultApiView):
    @extend_schema(
        operation_id="consults_fhir",
        responses={200: {"type": "object", "description": "FHIR R4 Bundle"}},
    )
    def get(self, request: Request, consult_id: int) -> Response:
        consult = consult_detail_for_user(user=_user(request), consult_id=consult_id)
        bundle = consult_bundle(
            consult,
            list(consult.participants.all()),
            [link.study.study_instance_uid for link in consult.studies.all()],
        )
        return Response(bundle, content_type="application/fhir+json")


class DutyApi(ConsultApiView):
    @extend_schema(operation_id="consults_duty_set", request=DutyIn, responses=DutyOut)
    def put(self, request: Request) -> Response:
        incoming = DutyIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        duty = services.specialist_duty_set(
            actor_user=_user(request), on_duty=incoming.validated_data["on_duty"]
        )
        return Response(DutyOut({"on_duty": duty.on_duty}).data)


class PdfRenderer(BaseRenderer):
    """Lets clients ask for `Accept: application/pdf`; the PDF view answers with the bytes."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        # Only errors reach a renderer here; they go out as JSON bytes.
        rendered: bytes = JSONRenderer().render(data)
        return rendered


class OpinionPdfApi(ConsultApiView):
    """A signed opinion version as an A4 PDF; 404 for drafts and for consults not yours."""

    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        operation_id="consults_opinion_pdf",
        parameters=[
            OpenApiParameter("version", int, description="Default: the latest signed version")
        ],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The signed opinion as an A4 PDF"
            )
        },
    )
    def get(self, request: Request, consult_id: int) -> HttpResponse:
        raw = request.query_params.get("version")
        if raw is not None and not (raw.isascii() and raw.isdigit()):
            raise serializers.ValidationError({"version": ["Give a version number."]})
        pdf = opinion_pdf_export(
            user=_user(request), consult_id=consult_id, number=int(raw) if raw else None
        )
        response = HttpResponse(pdf.content, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{pdf.filename}"'
        # Patient data: neither browsers nor proxies keep a copy.
        response["Cache-Control"] = "no-store"
        return response
