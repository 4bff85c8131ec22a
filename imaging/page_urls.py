"""URLs of the archive's pages, mounted at /imaging/ (DICOMweb lives at /dicomweb/)."""

from django.urls import path

from imaging import views

app_name = "imaging_pages"
urlpatterns = [
    path("studies/", views.study_list, name="studies"),
    path("studies/<str:study_uid>/delete/", views.study_delete_confirm, name="study_delete"),
    path("studies/<str:study_uid>/view/", views.study_viewer, name="study_viewer"),
    path("patients/<int:patient_id>/studies/", views.patient_studies, name="patient_studies"),
    path(
        "studies/<str:study_uid>/series/<str:series_uid>/preview/",
        views.series_preview,
        name="series_preview",
    ),
    path("reconcile/", views.reconcile_list, name="reconcile"),
    path("reconcile/<int:study_id>/", views.reconcile_study, name="reconcile_study"),
]
