"""Consult services: every write of the consult app. Grouped by subdomain, re-exported here."""

from consult.services.calendar import calendar_days_load
from consult.services.deadlines import consult_deadlines_sweep
from consult.services.lifecycle import (
    Assignment,
    consult_accept,
    consult_acknowledge,
    consult_answer_info,
    consult_cancel,
    consult_mark_entered_in_error,
    consult_request_info,
    consult_schedule,
    consult_start_review,
    consult_start_session,
    consult_transition,
)
from consult.services.opinions import (
    OpinionSections,
    opinion_contribute,
    opinion_draft_save,
    opinion_sign,
    opinion_version_intact,
)
from consult.services.requests import (
    ConsultDraft,
    ConsultDraftChanges,
    consult_attachment_add,
    consult_consent_record,
    consult_draft_update,
    consult_request_create,
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
    "consult_least_loaded_specialist",
    "consult_mark_entered_in_error",
    "consult_request_create",
    "consult_request_info",
    "consult_route",
    "consult_schedule",
    "consult_start_review",
    "consult_start_session",
    "consult_submit",
    "consult_transition",
    "opinion_contribute",
    "opinion_draft_save",
    "opinion_sign",
    "opinion_version_intact",
    "specialist_duty_set",
]
