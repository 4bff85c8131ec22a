"""JSON endpoints of what a consult carries: uploaded files and attached archive studies."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult import services
from consult.api.base import request_user
from consult.models import AttachmentKind, ConsultAttachment, ConsultStudy
from consult.selectors import consult_detail_for_user


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


class AttachmentIn(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=AttachmentKind.choices)
    file = serializers.FileField()


class AttachmentApi(APIView):
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
            actor_user=request_user(request),
            kind=incoming.validated_data["kind"],
            upload=incoming.validated_data["file"],
        )
        return Response(AttachmentOut(attachment).data, status=status.HTTP_201_CREATED)


class StudiesApi(APIView):
    @extend_schema(operation_id="consults_studies_list", responses=ConsultStudyOut(many=True))
    def get(self, request: Request, consult_id: int) -> Response:
        consult = consult_detail_for_user(user=request_user(request), consult_id=consult_id)
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
            actor_user=request_user(request),
        )
        return Response(ConsultStudyOut(link).data, status=status.HTTP_201_CREATED)
