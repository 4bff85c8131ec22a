"""Server-rendered consult pages. Each view parses a form, calls one consult service or selector,
and renders or redirects; the services decide what is allowed, and their refusals are shown to
the user in words."""

from consult.views.assign import consult_assign
from consult.views.duty import duty_set
from consult.views.pages import (
    consult_act,
    consult_detail,
    consult_edit,
    consult_new,
    opinion_contribute,
    opinion_edit,
    opinion_key_image_remove,
    opinion_sign,
    opinion_view,
    worklist,
)
from consult.views.review import study_review
from consult.views.study_upload import consult_study_upload

__all__ = [
    "consult_act",
    "consult_assign",
    "consult_detail",
    "consult_edit",
    "consult_new",
    "consult_study_upload",
    "duty_set",
    "opinion_contribute",
    "opinion_edit",
    "opinion_key_image_remove",
    "opinion_sign",
    "opinion_view",
    "study_review",
    "worklist",
]
