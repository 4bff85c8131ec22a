"""URLs of the server-rendered pages."""

from django.urls import path

from server.web import views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("patients/", views.patient_list, name="patients"),
    path("patients/new/", views.patient_new, name="patient_new"),
    path("patients/<int:patient_id>/", views.patient_detail, name="patient_detail"),
    path(
        "patients/<int:patient_id>/access-log/",
        views.patient_access_log,
        name="patient_access_log",
    ),
    path("duplicates/", views.duplicate_list, name="duplicates"),
    path(
        "duplicates/<int:duplicate_id>/resolve/",
        views.duplicate_resolve,
        name="duplicate_resolve",
    ),
    path("audit/", views.audit_log, name="audit"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
]
