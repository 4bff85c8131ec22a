"""JSON endpoints of the directory: who am I, and the patients I may see."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts.models import User
from server.directory.models import Patient, Sex
from server.directory.selectors import (
    patient_get_for_user,
    patient_page_for_user,
    practitioner_for_user,
)
from server.directory.services import patient_register
from server.web.paging import OffsetInvalid, offset_parse


class PractitionerOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    institution = serializers.CharField(source="institution.name")
    institution_id = serializers.IntegerField()
    specialty = serializers.CharField()
    title = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())


class PatientOut(serializers.ModelSerializer[Patient]):
    home_institution = serializers.CharField(source="home_institution.name")
    merged_into_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "name",
            "sex",
            "birth_date",
            "health_card_number",
            "phone",
            "home_institution_id",
            "home_institution",
            "merged_into_id",
            "registered_at",
        ]


class PatientIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    sex = serializers.ChoiceField(choices=Sex.choices)
    birth_date = serializers.DateField()
    national_id = serializers.RegexField(r"^\d{17}[\dXx]$", required=False, allow_blank=True)
    health_card_number = serializers.CharField(max_length=32, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)


class PatientPageOut(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    results = PatientOut(many=True)


class RegistrationOut(serializers.Serializer[Any]):
    patient = PatientOut()
    suspected_duplicate_count = serializers.IntegerField()


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


class MeApi(APIView):
    @extend_schema(operation_id="me_retrieve", responses=PractitionerOut)
    def get(self, request: Request) -> Response:
        practitioner = practitioner_for_user(user=_user(request))
        if practitioner is None:
            return Response({"detail": "This account is not a practitioner."}, status=404)
        data = {
            "id": practitioner.pk,
            "display_name": practitioner.display_name,
            "institution": practitioner.institution,
            "institution_id": practitioner.institution_id,
            "specialty": practitioner.specialty,
            "title": practitioner.title,
            "roles": sorted(practitioner.roles.values_list("role", flat=True)),
        }
        return Response(PractitionerOut(data).data)


class PatientListApi(APIView):
    @extend_schema(
        operation_id="patients_list",
        parameters=[
            OpenApiParameter("search", str, description="Name fragment or health card number"),
            OpenApiParameter("offset", int),
            OpenApiParameter("limit", int, description="At most 100"),
        ],
        responses=PatientPageOut,
    )
    def get(self, request: Request) -> Response:
        params = serializers.DictField(child=serializers.CharField()).to_internal_value(
            request.query_params.dict()
        )
        page = patient_page_for_user(
            user=_user(request),
            search=params.get("search", ""),
            offset=_int_param(params, "offset", 0),
            limit=_int_param(params, "limit", 25),
        )
        return Response(
            PatientPageOut(
                {
                    "count": page.total,
                    "offset": page.offset,
                    "limit": page.limit,
                    "results": page.items,
                }
            ).data
        )

    @extend_schema(
        operation_id="patients_register",
        request=PatientIn,
        responses={
            201: RegistrationOut,
            409: OpenApiResponse(
                description="The national ID number is already registered in the consortium: "
                "`national_id` says so, and `patient_id` names the record if the caller may "
                "open it."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        incoming = PatientIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        registration = patient_register(user=_user(request), **incoming.validated_data)
        body = {
            "patient": registration.patient,
            "suspected_duplicate_count": len(registration.duplicates),
        }
        return Response(RegistrationOut(body).data, status=status.HTTP_201_CREATED)


class PatientDetailApi(APIView):
    @extend_schema(operation_id="patients_retrieve", responses=PatientOut)
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(user=_user(request), patient_id=patient_id)
        return Response(PatientOut(patient).data)


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise serializers.ValidationError({name: f"must be a non-negative integer, got {raw!r}"})
    if name == "offset":  # a limit is cut to the page size; an offset past every row is refused
        try:
            return offset_parse(raw, name=name)
        except OffsetInvalid as exc:
            raise serializers.ValidationError({name: [str(exc)]}) from exc
    return int(raw)
