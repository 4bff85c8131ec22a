"""Consult reads: the facts the access policy decides on, visibility, worklists, clocks.
Grouped by subdomain, re-exported here."""

from consult.selectors.deadlines import (
    DEFAULT_DEADLINES,
    ConsultClocks,
    consult_clocks,
    deadline_limits,
    working_calendar,
)
from consult.selectors.duty import (
    PendingConsult,
    consults_pending_for,
    specialist_duty_for,
)
from consult.selectors.opinions import (
    OpinionState,
    consult_opinion_state,
    opinion_key_image_for_user,
)
from consult.selectors.pages import (
    consult_actions_for_user,
    consult_attachable_studies,
    consult_department_choices,
    consult_patient_choices,
    consult_specialist_choices,
)
from consult.selectors.visibility import (
    Worklist,
    consult_active_load,
    consult_detail_for_user,
    consult_facts,
    consult_get_for_user,
    consult_page_for_user,
    consult_queue_user_ids,
    consult_room_may_join,
    consult_room_may_stay,
    consults_in_worklist,
    consults_visible_to,
    review_may_stay,
)

__all__ = [
    "DEFAULT_DEADLINES",
    "ConsultClocks",
    "OpinionState",
    "PendingConsult",
    "Worklist",
    "consult_actions_for_user",
    "consult_active_load",
    "consult_attachable_studies",
    "consult_clocks",
    "consult_department_choices",
    "consult_detail_for_user",
    "consult_facts",
    "consult_get_for_user",
    "consult_opinion_state",
    "consult_page_for_user",
    "consult_patient_choices",
    "consult_queue_user_ids",
    "consult_room_may_join",
    "consult_room_may_stay",
    "consult_specialist_choices",
    "consults_in_worklist",
    "consults_pending_for",
    "consults_visible_to",
    "deadline_limits",
    "opinion_key_image_for_user",
    "review_may_stay",
    "specialist_duty_for",
    "working_calendar",
]
