"""JSON endpoints of a consult's opinion: signed versions, the draft, MDT contributions,
signing, and the signed version as PDF."""

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult import services
from consult.api.base import PdfRenderer, request_user
from consult.models import OPINION_LABEL, OpinionVersion
from consult.pdf import opinion_pdf_export
from consult.selectors import consult_get_for_user


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


class OpinionApi(APIView):
    @extend_schema(operation_id="consults_opinion_versions", responses=OpinionVersionOut(many=True))
    def get(self, request: Request, consult_id: int) -> Response:
        consult = consult_get_for_user(user=request_user(request), consult_id=consult_id)
        signed = OpinionVersion.objects.filter(
            opinion__consult=consult, signed_at__isnull=False
        ).order_by("number")
        return Response(OpinionVersionOut(signed, many=True).data)


class OpinionDraftApi(APIView):
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
            actor_user=request_user(request),
            sections=services.OpinionSections(**data),
            amendment_reason=amendment_reason,
        )
        return Response(OpinionVersionOut(version).data)


class OpinionContributionApi(APIView):
    @extend_schema(
        operation_id="consults_opinion_contribute", request=ContributionIn, responses={204: None}
    )
    def put(self, request: Request, consult_id: int) -> Response:
        incoming = ContributionIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.opinion_contribute(
            consult_id=consult_id,
            actor_user=request_user(request),
            text=incoming.validated_data["text"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class OpinionSignApi(APIView):
    @extend_schema(
        operation_id="consults_opinion_sign", request=SignIn, responses=OpinionVersionOut
    )
    def post(self, request: Request, consult_id: int) -> Response:
        incoming = SignIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        version = services.opinion_sign(
            consult_id=consult_id,
            actor_user=request_user(request),
            password=incoming.validated_data["password"],
        )
        return Response(OpinionVersionOut(version).data)


class OpinionPdfApi(APIView):
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
            user=request_user(request), consult_id=consult_id, number=int(raw) if raw else None
        )
        response = HttpResponse(pdf.content, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{pdf.filename}"'
        # Patient data: neither browsers nor proxies keep a copy.
        response["Cache-Control"] = "no-store"
        return response
