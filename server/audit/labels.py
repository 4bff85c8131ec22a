"""Audit events and resource types in words, for the pages that show the trail.

Event codes are written by every app (`audit_record(event=...)`); their labels live here, in
one catalogue, so the audit pages translate every one (a test checks each code in the code
base has a label).
"""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

EVENT_LABELS: dict[str, Promise] = {
    "user.login": _("Signed in"),
    "user.logout_everywhere": _("Signed out on every device"),
    "user.password_confirm": _("Typed their password again (to sign or to change it)"),
    "patient.view": _("Opened a patient record"),
    "patient.update": _("Changed a patient record"),
    "patient.search": _("Listed or searched patients"),
    "patient.register": _("Registered a patient"),
    "patient.merge": _("Merged patient records"),
    "patient.duplicate_dismiss": _("Kept two records apart (different people)"),
    "patient.duplicate_review": _("Opened the possible duplicates"),
    "patient.view_access_log": _("Opened who accessed a patient's record"),
    "consult.view": _("Opened a consult"),
    "consult.request": _("Acted on their consult request"),
    "consult.route": _("Routed a consult"),
    "consult.claim": _("Claimed a consult"),
    "consult.respond": _("Answered a consult invitation"),
    "consult.contribute": _("Wrote in a consult opinion"),
    "consult.attach_study": _("Added a study to a consult"),
    "consult.sign": _("Signed a consult opinion"),
    "consult.correct": _("Marked a consult entered in error"),
    "consult.review": _("Opened a consult's shared review"),
    "consult.list": _("Listed consults"),
    "consult.create": _("Requested a consult"),
    "consult.draft_update": _("Edited a consult request"),
    "consult.attachment_add": _("Added a consult attachment"),
    "consult.study_attach": _("Attached a study to a consult"),
    "consult.review_open": _("Opened a consult's images"),
    "consult.review_join": _("Joined a shared image review"),
    "consult.review_annotations": _("Read image review annotations"),
    "consult.review_annotation": _("Saved an image review annotation"),
    "consult.opinion_sign": _("Signed off a consult opinion"),
    "consult.opinion_key_image": _("Added a key image to an opinion"),
    "consult.opinion_pdf": _("Downloaded a consult opinion as PDF"),
    "consult.transition": _("Changed a consult's status"),
    "imaging.study.create": _("Received a study"),
    "imaging.study.delete": _("Deleted a study"),
    "imaging.study.link": _("Linked a study to a patient"),
    "imaging.study.list": _("Listed studies"),
    "imaging.study.read": _("Viewed or retrieved images"),
    "imaging.study.reconcile_list": _("Listed studies to match to patients"),
    "imaging.study.search": _("Searched studies"),
    "imaging.instance.conflict": _("Received a conflicting image"),
    "request.refused": _("Sent a request with unusable input (refused)"),
}

# Resource types without a describer of their own: a name and the row's id.
RESOURCE_LABELS: dict[str, Promise] = {
    "Patient": pgettext_lazy("audit resource", "Patient"),
    "ConsultRequest": pgettext_lazy("audit resource", "Consult"),
    "Study": pgettext_lazy("audit resource", "Study"),
    "PatientDuplicate": pgettext_lazy("audit resource", "Possible duplicates"),
    "ConsultAttachment": pgettext_lazy("audit resource", "Consult attachment"),
    "ConsultStudy": pgettext_lazy("audit resource", "Study attached to a consult"),
    "OpinionVersion": pgettext_lazy("audit resource", "Opinion version"),
    "OpinionKeyImage": pgettext_lazy("audit resource", "Key image"),
    "ReviewAnnotation": pgettext_lazy("audit resource", "Review annotation"),
    "Instance": pgettext_lazy("audit resource", "Image"),
}


def event_label(code: str) -> str:
    """The event in words in the active language; an unknown code is shown as it is."""
    label = EVENT_LABELS.get(code)
    return str(label) if label is not None else code


def event_choices() -> list[tuple[str, str]]:
    """Every event as (code, words), in the catalogue's order."""
    return [(code, str(label)) for code, label in EVENT_LABELS.items()]
