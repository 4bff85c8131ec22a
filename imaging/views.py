"""Server-rendered archive pages: an institution's studies and deletion, reconciliation, and
the image viewer.

Each view parses a form, calls one imaging service or selector, and renders or redirects.
"""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from imaging.dicomweb.common import browser_viewing_session, stored_bytes
from imaging.errors import StudyAlreadyMatched
from imaging.forms import StudyDeleteForm, StudyLinkForm
from imaging.models import PreviewState, ViewingKind
from imaging.selectors import (
    series_of_study,
    series_to_view,
    study_for_manager,
    study_for_reconcile,
    study_get_for_user,
    study_page_for_manager,
    study_page_of_patient,
    study_page_to_reconcile,
)
from imaging.services import PREVIEW_MEDIA_TYPE, study_delete, study_patient_link
from imaging.viewer import viewer_config
from server.directory.selectors import patient_page_for_user
from server.web.paging import Pager, page_number, page_offset
from server.web.views import Viewer, practitioner_page

STUDIES_PER_PAGE = 25
PATIENT_CANDIDATES = 10


@require_safe
@practitioner_page
def study_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    number = page_number(request.GET.get("page"))
    offset = page_offset(number, STUDIES_PER_PAGE)
    page = study_page_for_manager(user=viewer.user, offset=offset, limit=STUDIES_PER_PAGE)
    context = {
        "rows": page.rows,
        "pager": Pager(number=number, per_page=STUDIES_PER_PAGE, total=page.total),
    }
    return render(request, "imaging/studies.html", context)


@require_http_methods(["GET", "POST"])
@practitioner_page
def study_delete_confirm(request: HttpRequest, viewer: Viewer, study_uid: str) -> HttpResponse:
    study = study_for_manager(user=viewer.user, study_uid=study_uid)
    form = StudyDeleteForm(request.POST if request.method == "POST" else None)
    if not form.is_valid():
        return render(request, "imaging/study_delete.html", {"study": study, "form": form})
    study_delete(user=viewer.user, study_uid=study_uid, reason=form.cleaned_data["reason"])
    messages.success(request, _("The study has been deleted. The audit trail keeps a record."))
    return redirect("imaging_pages:studies")


@require_safe
@practitioner_page
def reconcile_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    number = page_number(request.GET.get("page"))
    offset = page_offset(number, STUDIES_PER_PAGE)
    page = study_page_to_reconcile(user=viewer.user, offset=offset, limit=STUDIES_PER_PAGE)
    context = {
        "rows": page.rows,
        "pager": Pager(number=number, per_page=STUDIES_PER_PAGE, total=page.total),
    }
    return render(request, "imaging/reconcile.html", context)


@require_http_methods(["GET", "POST"])
@practitioner_page
def reconcile_study(request: HttpRequest, viewer: Viewer, study_id: int) -> HttpResponse:
    if request.method == "POST":
        form = StudyLinkForm(request.POST)
        if form.is_valid():
            try:
                study_patient_link(
                    user=viewer.user, study_id=study_id, patient_id=form.cleaned_data["patient_id"]
                )
            except StudyAlreadyMatched:
                messages.info(request, _("Someone has already linked this study to a patient."))
                return redirect("imaging_pages:reconcile")
            messages.success(request, _("The study is linked to the patient."))
            return redirect("imaging_pages:reconcile")
        messages.error(request, _("Choose a patient to link the study to."))
    study = study_for_reconcile(user=viewer.user, study_id=study_id)
    search = request.GET.get("q", "").strip()[:100]
    patients = (
        patient_page_for_user(user=viewer.user, search=search, limit=PATIENT_CANDIDATES).items
        if search
        else []
    )
    context = {"study": study, "search": search, "patients": patients}
    return render(request, "imaging/reconcile_study.html", context)


@require_safe
@practitioner_page
def study_viewer(request: HttpRequest, viewer: Viewer, study_uid: str) -> HttpResponse:
    study = study_get_for_user(
        user=viewer.user,
        study_uid=study_uid,
        session=browser_viewing_session(request),
        kind=ViewingKind.RETRIEVE,
    )
    config = viewer_config(study=study, series=series_to_view(study=study))
    return render(request, "imaging/viewer.html", {"study": study, "config": config})


@require_safe
@practitioner_page
def series_preview(
    request: HttpRequest, viewer: Viewer, study_uid: str, series_uid: str
) -> HttpResponse:
    """The series' preview rendered at ingest (lossy, viewport-sized), for the viewer's first
    image; 404 until it is ready."""
    study = study_get_for_user(
        user=viewer.user,
        study_uid=study_uid,
        session=browser_viewing_session(request),
        kind=ViewingKind.RETRIEVE,
    )
    series = series_of_study(study=study, series_uid=series_uid)
    if series.preview_state != PreviewState.READY:
        raise Http404
    response = HttpResponse(stored_bytes(series.preview_name), content_type=PREVIEW_MEDIA_TYPE)
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
@practitioner_page
def patient_studies(request: HttpRequest, viewer: Viewer, patient_id: int) -> HttpResponse:
    number = page_number(request.GET.get("page"))
    offset = page_offset(number, STUDIES_PER_PAGE)
    found = study_page_of_patient(
        user=viewer.user, patient_id=patient_id, offset=offset, limit=STUDIES_PER_PAGE
    )
    context = {
        "patient": found.patient,
        "rows": found.page.rows,
        "pager": Pager(number=number, per_page=STUDIES_PER_PAGE, total=found.page.total),
    }
    return render(request, "imaging/patient_studies.html", context)
