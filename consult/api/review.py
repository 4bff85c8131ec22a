"""JSON endpoints of the shared review: annotations saved with a consult, and the opinion's key
images."""

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from pydantic import ValidationError
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult import services
from consult.api.base import PdfRenderer, request_user
from consult.events import ANNOTATION_DATA_MAX_BYTES, ANNOTATION_NUL, UID_PATTERN, SavedAnnotation
from consult.models import OpinionKeyImage, ReviewAnnotation
from consult.selectors import opinion_key_image_for_user
from consult.services.key_images import KEY_IMAGE_MAX_BYTES


class AnnotationIn(serializers.Serializer[Any]):
    study_instance_uid = serializers.RegexField(UID_PATTERN, max_length=64)
    series_instance_uid = serializers.RegexField(UID_PATTERN, max_length=64)
    sop_instance_uid = serializers.RegexField(UID_PATTERN, max_length=64)
    tool = serializers.RegexField(r"^[A-Za-z][A-Za-z0-9]*$", max_length=32)
    annotation = serializers.JSONField(help_text="The viewer's own annotation (Cornerstone's)")

    def validate_annotation(self, data: Any) -> Any:
        try:
            SavedAnnotation.model_validate(
                {
                    "annotation_uid": "size-check",
                    "series_instance_uid": "1",
                    "sop_instance_uid": "1",
                    "tool": "Check",
                    "data": data,
                }
            )
        except ValueError as error:
            raise serializers.ValidationError(
                "Annotation data may not contain NUL characters."
                if ANNOTATION_NUL in str(error)
                else f"At most {ANNOTATION_DATA_MAX_BYTES} bytes of JSON."
            ) from error
        return data


class AnnotationOut(serializers.ModelSerializer[ReviewAnnotation]):
    annotation = serializers.JSONField(source="data")

    class Meta:
        model = ReviewAnnotation
        fields = [
            "annotation_uid",
            "series_instance_uid",
            "sop_instance_uid",
            "tool",
            "annotation",
            "author_id",
            "created_at",
            "updated_at",
        ]


class KeyImageIn(serializers.Serializer[Any]):
    image = serializers.FileField(help_text="PNG of the displayed image with its annotations")
    study_instance_uid = serializers.RegexField(UID_PATTERN, max_length=64)
    sop_instance_uid = serializers.RegexField(UID_PATTERN, max_length=64)
    caption = serializers.CharField(max_length=200, allow_blank=True, default="")
    displayed = serializers.ChoiceField(
        choices=["diagnostic", "preview", "failed"],
        default="diagnostic",
        help_text="What the viewer displayed: only a diagnostic render makes a key image",
    )


class KeyImageOut(serializers.ModelSerializer[OpinionKeyImage]):
    class Meta:
        model = OpinionKeyImage
        fields = [
            "id",
            "study_instance_uid",
            "sop_instance_uid",
            "caption",
            "sha256",
            "size",
            "width",
            "height",
            "added_by_id",
            "added_at",
        ]


class AnnotationsApi(APIView):
    @extend_schema(
        operation_id="consults_annotations_list",
        parameters=[OpenApiParameter("study", str, required=True, description="Study UID")],
        responses=AnnotationOut(many=True),
    )
    def get(self, request: Request, consult_id: int) -> Response:
        study = request.query_params.get("study", "")
        annotations = services.review_annotations_for_user(
            user=request_user(request), consult_id=consult_id, study_instance_uid=study
        )
        return Response(AnnotationOut(annotations, many=True).data)


class AnnotationApi(APIView):
    @extend_schema(
        operation_id="consults_annotation_save", request=AnnotationIn, responses=AnnotationOut
    )
    def put(self, request: Request, consult_id: int, annotation_uid: str) -> Response:
        incoming = AnnotationIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            annotation = SavedAnnotation(
                annotation_uid=annotation_uid,
                series_instance_uid=data["series_instance_uid"],
                sop_instance_uid=data["sop_instance_uid"],
                tool=data["tool"],
                data=data["annotation"],
            )
        except ValidationError as error:
            raise serializers.ValidationError({"annotation_uid": ["Not a UID."]}) from error
        saved = services.review_annotation_save(
            consult_id=consult_id,
            actor_user=request_user(request),
            study_instance_uid=data["study_instance_uid"],
            annotation=annotation,
        )
        return Response(AnnotationOut(saved).data)

    @extend_schema(operation_id="consults_annotation_delete", responses={204: None})
    def delete(self, request: Request, consult_id: int, annotation_uid: str) -> Response:
        services.review_annotation_delete(
            consult_id=consult_id, actor_user=request_user(request), annotation_uid=annotation_uid
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class KeyImagesApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="consults_opinion_key_image_add",
        request={"multipart/form-data": KeyImageIn},
        responses={201: KeyImageOut},
    )
    def post(self, request: Request, consult_id: int) -> Response:
        incoming = KeyImageIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        key_image = services.opinion_key_image_add(
            consult_id=consult_id,
            actor_user=request_user(request),
            study_instance_uid=data["study_instance_uid"],
            sop_instance_uid=data["sop_instance_uid"],
            caption=data["caption"],
            # One byte more than allowed, so an oversized upload is refused by its size.
            png=data["image"].read(KEY_IMAGE_MAX_BYTES + 1),
            displayed=data["displayed"],
        )
        return Response(KeyImageOut(key_image).data, status=status.HTTP_201_CREATED)


class PngRenderer(PdfRenderer):
    """Lets clients ask for `Accept: image/png`; errors still go out as JSON bytes."""

    media_type = "image/png"
    format = "png"


class KeyImageApi(APIView):
    renderer_classes = [JSONRenderer, PngRenderer]

    @extend_schema(
        operation_id="consults_opinion_key_image",
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The key image")
        },
    )
    def get(self, request: Request, consult_id: int, key_image_id: int) -> HttpResponse:
        key_image = opinion_key_image_for_user(
            user=request_user(request), consult_id=consult_id, key_image_id=key_image_id
        )
        with key_image.file.open("rb") as stored:
            response = HttpResponse(stored.read(), content_type="image/png")
        # Patient data: neither browsers nor proxies keep a copy.
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(operation_id="consults_opinion_key_image_remove", responses={204: None})
    def delete(self, request: Request, consult_id: int, key_image_id: int) -> Response:
        services.opinion_key_image_remove(
            consult_id=consult_id, actor_user=request_user(request), key_image_id=key_image_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
