"""URLs of the consult pages, mounted at /consults/ (the services link to /consults/<id>/)."""

from django.urls import path

from consult import views

app_name = "consults"
urlpatterns = [
    path("", views.worklist, name="worklist"),
    path("new/", views.consult_new, name="new"),
    path("duty/", views.duty_set, name="duty"),
    path("<int:consult_id>/", views.consult_detail, name="detail"),
    path("<int:consult_id>/edit/", views.consult_edit, name="edit"),
    path("<int:consult_id>/assign/", views.consult_assign, name="assign"),
    path("<int:consult_id>/act/<slug:action>/", views.consult_act, name="act"),
    path("<int:consult_id>/images/upload/", views.consult_study_upload, name="study_upload"),
    path(
        "<int:consult_id>/studies/<str:study_uid>/review/",
        views.study_review,
        name="study_review",
    ),
    path("<int:consult_id>/opinion/", views.opinion_view, name="opinion"),
    path("<int:consult_id>/opinion/edit/", views.opinion_edit, name="opinion_edit"),
    path("<int:consult_id>/opinion/sign/", views.opinion_sign, name="opinion_sign"),
    path(
        "<int:consult_id>/opinion/key-images/<int:key_image_id>/remove/",
        views.opinion_key_image_remove,
        name="opinion_key_image_remove",
    ),
    path(
        "<int:consult_id>/opinion/contribute/",
        views.opinion_contribute,
        name="opinion_contribute",
    ),
]
