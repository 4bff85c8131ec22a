"""URLs of the directory JSON API (patients, practitioners), mounted at /api/v1/."""

from django.urls import path

from server.directory import api

app_name = "directory"
urlpatterns = [
    path("me/", api.MeApi.as_view(), name="me"),
    path("patients/", api.PatientListApi.as_view(), name="patients"),
    path("patients/<int:patient_id>/", api.PatientDetailApi.as_view(), name="patient"),
]
