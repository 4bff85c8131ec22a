"""Consult services: every write of the consult app. Grouped by subdomain, re-exported here."""

from consult.services.calendar import calendar_days_load
from consult.services.deadlines import consult_deadlines_sweep
from consult.services.key_images import opinion_key_image_add, opinion_key_image_remove
from consult.services.moves import (
    consult_accept,
    consult_acknowledge,
    consult_answer_info,
    consult_cancel,
    consult_mark_entered_in_error,
    consult_request_info,
    consult_schedule,
    consult_start_review,
    consult_start_session,
)
from consult.services.opinions import (
    OpinionSections,
    opinion_contribute,
    opinion_draft_save,
    opinion_sign,
    opinion_version_intact,
)
from consult.services.reads import consult_list_record
from consult.services.requests import (
    ConsultDraft,
    ConsultDraftChanges,
    consult_attachment_add,
    consult_consent_record,
    consult_draft_update,
    consult_request_create,
)
from consult.services.review import (
    review_annotation_delete,
    review_annotation_save,
    review_annotations_for_user,
)
from consult.services.routing import (
    Candidate,
    consult_assign,
    consult_assignment_candidates,
    consult_claim,
    consult_decline,
    consult_least_loaded_specialist,
    consult_route,
    consult_submit,
    specialist_duty_set,
)
from consult.services.studies import consult_study_attach
from consult.services.transitions import Assignment, consult_grants_sync, consult_transition

__all__ = [
    "Assignment",
    "Candidate",
    "ConsultDraft",
    "ConsultDraftChanges",
    "OpinionSections",
    "calendar_days_load",
    "consult_accept",
    "consult_acknowledge",
    "consult_answer_info",
    "consult_assign",
    "consult_assignment_candidates",
    "consult_attachment_add",
    "consult_cancel",
    "consult_claim",
    "consult_consent_record",
    "consult_deadlines_sweep",
    "consult_decline",
    "consult_draft_update",
    "consult_grants_sync",
    "consult_least_loaded_specialist",
    "consult_list_record",
    "consult_mark_entered_in_error",
    "consult_request_create",
    "consult_request_info",
    "consult_route",
    "consult_schedule",
    "consult_start_review",
    "consult_start_session",
    "consult_study_attach",
    "consult_submit",
    "consult_transition",
    "opinion_contribute",
    "opinion_draft_save",
    "opinion_key_image_add",
    "opinion_key_image_remove",
    "opinion_sign",
    "opinion_version_intact",
    "review_annotation_delete",
    "review_annotation_save",
    "review_annotations_for_user",
    "specialist_duty_set",
]
