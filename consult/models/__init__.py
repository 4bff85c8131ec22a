"""Consult requests (FHIR ServiceRequest), each party's work on them (Task), opinions, deadlines.
Grouped by subdomain, re-exported here: every model stays importable from `consult.models`."""

from consult.models.attachments import AttachmentKind, ConsultAttachment, ConsultStudy
from consult.models.attachments import _attachment_path as _attachment_path
from consult.models.deadlines import (
    CalendarDay,
    DeadlineKind,
    DeadlinePolicy,
    DeadlineUnit,
    Escalation,
)
from consult.models.messaging import MessageReason, MessageState, OutboundMessage
from consult.models.opinions import (
    OPINION_LABEL,
    Opinion,
    OpinionContribution,
    OpinionKeyImage,
    OpinionVersion,
)
from consult.models.opinions import _key_image_path as _key_image_path
from consult.models.requests import (
    ASKABLE_SPECIALTIES,
    ASKABLE_TITLES,
    ConsentMethod,
    ConsentRelation,
    ConsultEvent,
    ConsultParticipant,
    ConsultRequest,
    DeclineCode,
    Disposition,
    Kind,
    Mode,
    SpecialistDuty,
    Status,
    TargetKind,
    Urgency,
)
from consult.models.review import ReviewAnnotation, ReviewPresence, ReviewSession

# `_attachment_path` and `_key_image_path` are re-exported too (as `X as X`): the migrations
# name them `consult.models._attachment_path` and `consult.models._key_image_path`.
__all__ = [
    "ASKABLE_SPECIALTIES",
    "ASKABLE_TITLES",
    "OPINION_LABEL",
    "AttachmentKind",
    "CalendarDay",
    "ConsentMethod",
    "ConsentRelation",
    "ConsultAttachment",
    "ConsultEvent",
    "ConsultParticipant",
    "ConsultRequest",
    "ConsultStudy",
    "DeadlineKind",
    "DeadlinePolicy",
    "DeadlineUnit",
    "DeclineCode",
    "Disposition",
    "Escalation",
    "Kind",
    "MessageReason",
    "MessageState",
    "Mode",
    "Opinion",
    "OpinionContribution",
    "OpinionKeyImage",
    "OpinionVersion",
    "OutboundMessage",
    "ReviewAnnotation",
    "ReviewPresence",
    "ReviewSession",
    "SpecialistDuty",
    "Status",
    "TargetKind",
    "Urgency",
]
