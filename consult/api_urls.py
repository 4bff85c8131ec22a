"""URLs of the consult JSON API, mounted at /api/v1/consults/."""

from django.urls import path

from consult import api

app_name = "consult"
urlpatterns = [
    path("", api.ConsultListApi.as_view(), name="consults"),
    path("duty/", api.DutyApi.as_view(), name="duty"),
    path("<int:consult_id>/", api.ConsultDetailApi.as_view(), name="consult"),
    path("<int:consult_id>/transitions/", api.ConsultTransitionApi.as_view(), name="transition"),
    path("<int:consult_id>/opinion/", api.OpinionApi.as_view(), name="opinion"),
    path("<int:consult_id>/opinion/draft/", api.OpinionDraftApi.as_view(), name="opinion-draft"),
    path(
        "<int:consult_id>/opinion/contribution/",
        api.OpinionContributionApi.as_view(),
        name="opinion-contribution",
    ),
    path("<int:consult_id>/opinion/pdf/", api.OpinionPdfApi.as_view(), name="opinion-pdf"),
    path("<int:consult_id>/opinion/sign/", api.OpinionSignApi.as_view(), name="opinion-sign"),
    path("<int:consult_id>/acknowledge/", api.AcknowledgeApi.as_view(), name="acknowledge"),
    path("<int:consult_id>/attachments/", api.AttachmentApi.as_view(), name="attachments"),
    path("<int:consult_id>/studies/", api.StudiesApi.as_view(), name="studies"),
    path("<int:consult_id>/fhir/", api.FhirApi.as_view(), name="fhir"),
    path(
        "<int:consult_id>/annotations/",
        api.AnnotationsApi.as_view(),
        name="annotations",
    ),
    path(
        "<int:consult_id>/annotations/<str:annotation_uid>/",
        api.AnnotationApi.as_view(),
        name="annotation",
    ),
    path(
        "<int:consult_id>/opinion/key-images/",
        api.KeyImagesApi.as_view(),
        name="opinion-key-images",
    ),
    path(
        "<int:consult_id>/opinion/key-images/<int:key_image_id>/",
        api.KeyImageApi.as_view(),
        name="opinion-key-image",
    ),
]
