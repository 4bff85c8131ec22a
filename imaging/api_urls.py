"""The archive's JSON and tus endpoints, mounted at /api/v1/imaging/."""

from django.urls import path

from imaging import api

app_name = "imaging_api"
urlpatterns = [
    path("uploads/", api.UploadsApi.as_view(), name="uploads"),
    path("uploads/<uuid:upload_id>", api.UploadApi.as_view(), name="upload"),
]
