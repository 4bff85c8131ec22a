"""The page that sends a consult's images from the clinic's browser: pick a folder or files,
check them, and upload them resumably to the archive, attaching each study to the consult."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from consult.selectors import consult_actions_for_user, consult_get_for_user
from server.access import Action
from server.web.views import Viewer, practitioner_page


@require_safe
@practitioner_page
def consult_study_upload(request: HttpRequest, viewer: Viewer, consult_id: int) -> HttpResponse:
    consult = consult_get_for_user(user=viewer.user, consult_id=consult_id)
    actions = consult_actions_for_user(user=viewer.user, consult=consult)
    if "attach_study" not in actions or not viewer.permits(Action.STORE_IMAGES):
        raise PermissionDenied
    return render(request, "consult/study_upload.html", {"consult": consult})
