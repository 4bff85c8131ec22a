"""The shared review page: the image viewer on one of the consult's studies, followed together
over the consult's socket (frontend/src/review/)."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from consult.selectors import consult_actions_for_user
from consult.services.key_images import KEY_IMAGE_MAX_BYTES
from consult.services.review import review_study_for_user
from imaging.dicomweb.common import browser_viewing_session
from imaging.models import ViewingKind
from imaging.selectors import series_to_view, study_get_for_user
from imaging.viewer import viewer_config
from server.web.views import Viewer, practitioner_page


def _labels() -> dict[str, str]:
    return {
        "connecting": _("Connecting to the shared review…"),
        "offline": _("Connection lost; reconnecting…"),
        "participants": _("In the review"),
        "leads": _("leads"),
        "you": _("you"),
        "youLead": _("You lead: the others follow your view."),
        "following": _("Following %(name)s"),
        "handOver": _("Hand over to…"),
        "handOverButton": _("Hand over"),
        "pointer": _("Pointer of %(name)s"),
        "keyImage": _("Key image"),
        "keyImageCaption": _("Caption of the key image"),
        "keyImageAdded": _("Key image added to the opinion draft."),
        "keyImageFailed": _("The key image could not be added: %(reason)s"),
        "keyImageUnavailable": _("A key image is made only of the diagnostic image on screen."),
        "saveFailed": _("The annotations could not be saved; they are kept on this screen."),
        "refused": _("Refused: %(reason)s"),
        "ended": _("You can no longer take part in this review."),
    }


def review_config(
    *, viewer: Viewer, consult_id: int, study_uid: str, may_add_key_images: bool
) -> dict[str, Any]:
    """What frontend/src/review/shared.ts needs: where to connect and what to call things."""
    return {
        "consultId": consult_id,
        "studyInstanceUid": study_uid,
        "userId": viewer.user.pk,
        "socketPath": f"/ws/consults/{consult_id}/",
        "annotationsUrl": reverse("consult:annotations", kwargs={"consult_id": consult_id}),
        "keyImagesUrl": reverse("consult:opinion-key-images", kwargs={"consult_id": consult_id})
        if may_add_key_images
        else None,
        "keyImageMaxBytes": KEY_IMAGE_MAX_BYTES,
        "labels": _labels(),
    }


@require_safe
@practitioner_page
def study_review(
    request: HttpRequest, viewer: Viewer, consult_id: int, study_uid: str
) -> HttpResponse:
    link = review_study_for_user(
        user=viewer.user, consult_id=consult_id, study_instance_uid=study_uid
    )
    study = study_get_for_user(
        user=viewer.user,
        study_uid=study_uid,
        session=browser_viewing_session(request),
        kind=ViewingKind.RETRIEVE,
    )
    actions = consult_actions_for_user(user=viewer.user, consult=link.consult)
    context = {
        "consult": link.consult,
        "study": study,
        "config": {
            **viewer_config(study=study, series=series_to_view(study=study)),
            "consultId": consult_id,
        },
        "review": review_config(
            viewer=viewer,
            consult_id=consult_id,
            study_uid=study_uid,
            may_add_key_images=bool(actions & {"write_opinion", "contribute"}),
        ),
    }
    return render(request, "consult/review.html", context)
