"""Live messages of consults: worklists and the consult room, and the shared review's messages.

Worklist and room events carry ids and statuses only, never patient data: the page refetches
what it shows.
"""

import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from server.lib.events import Event

Worklist = Literal["incoming", "queue", "my_requests", "overdue"]


class ConsultWorklistChanged(Event):
    """A consult entered, left or changed in one of the user's worklists."""

    type: Literal["consult.worklist_changed"] = "consult.worklist_changed"
    worklist: Worklist
    consult_id: int
    status: str
    urgency: str


class ConsultEscalated(Event):
    """A consult missed a deadline; shown on the coordinators' overdue board."""

    type: Literal["consult.escalated"] = "consult.escalated"
    consult_id: int
    deadline: Literal["accept", "opinion"]
    due_at: datetime
    urgency: str


def consult_group(consult_id: int) -> str:
    """The consult room: everyone allowed to view the consult who has it open."""
    return f"consult.{consult_id}"


class ConsultStatusChanged(Event):
    """The consult moved in its lifecycle; sent to the consult room."""

    type: Literal["consult.status_changed"] = "consult.status_changed"
    consult_id: int
    from_status: str
    status: str
    at: datetime


# --- Shared review of a study -----------------------------------------------------------------
# The lead's view, pointer and annotations go from socket to socket through the review's group
# without touching the database; who is present and who leads are published after commit.
# View states mirror `ViewState` of frontend/src/viewer/handle.ts, field names included.

UID_PATTERN = r"^[0-9]+(\.[0-9]+)*$"
Uid = Annotated[str, Field(min_length=1, max_length=64, pattern=UID_PATTERN)]
Coordinate = Annotated[float, Field(ge=-100_000, le=100_000)]
# Cornerstone's annotation UIDs are UUIDs; other clients may use DICOM UIDs.
AnnotationUid = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
ToolName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z][A-Za-z0-9]*$")]
# An annotation's own JSON: a few handles and text; larger ones are not annotations.
ANNOTATION_DATA_MAX_BYTES = 32 * 1024
ANNOTATIONS_PER_MESSAGE_MAX = 200
ANNOTATIONS_MESSAGE_MAX_BYTES = 256 * 1024


def review_group(session_id: int) -> str:
    """The sockets in one shared review of one study."""
    return f"review.{session_id}"


class ClientMessage(BaseModel):
    """Base of the messages a browser sends; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CamelCase(ClientMessage):
    """Field names as the browser's TypeScript spells them."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ViewState(CamelCase):
    series_instance_uid: Uid
    image_index: int = Field(ge=0, le=100_000)
    window_center: float = Field(ge=-1_000_000, le=1_000_000)
    window_width: float = Field(gt=0, le=1_000_000)
    invert: bool
    zoom: float = Field(ge=0.01, le=100)
    pan: tuple[Coordinate, Coordinate]


class PointerPosition(CamelCase):
    x: Coordinate
    y: Coordinate


ANNOTATION_NUL = "annotation data may not contain NUL characters"


class SavedAnnotation(CamelCase):
    annotation_uid: AnnotationUid
    series_instance_uid: Uid
    sop_instance_uid: Uid
    tool: ToolName
    data: JsonValue

    @field_validator("data")
    @classmethod
    def _small(cls, data: JsonValue) -> JsonValue:
        text = json.dumps(data, separators=(",", ":"))
        if len(text) > ANNOTATION_DATA_MAX_BYTES:
            raise ValueError(f"at most {ANNOTATION_DATA_MAX_BYTES} bytes of annotation data")
        if "\\u0000" in text:  # PostgreSQL's jsonb cannot store NUL
            raise ValueError(ANNOTATION_NUL)
        return data


class ReviewJoin(ClientMessage):
    """Open the shared review of one of the consult's studies (leaving any other)."""

    type: Literal["review.join"]
    study: Uid


class ReviewLeave(ClientMessage):
    type: Literal["review.leave"]


class ReviewPing(ClientMessage):
    """Sent every REVIEW_PING_SECONDS while in a review: the socket is still there."""

    type: Literal["review.ping"]


class ReviewHandover(ClientMessage):
    """The lead passes the lead to another participant who is present."""

    type: Literal["review.handover"]
    to_user_id: int


class ReviewView(ClientMessage):
    """The lead's view changed; followers apply it."""

    type: Literal["review.view"]
    state: ViewState


class ReviewPointer(ClientMessage):
    """The lead's pointer over the image, or null when it left the image."""

    type: Literal["review.pointer"]
    pointer: PointerPosition | None


class ReviewAnnotations(ClientMessage):
    """The lead's annotations as displayed now, shown live to followers (saved over REST)."""

    type: Literal["review.annotations"]
    annotations: list[SavedAnnotation] = Field(max_length=ANNOTATIONS_PER_MESSAGE_MAX)

    @model_validator(mode="after")
    def _small(self) -> "ReviewAnnotations":
        # Each annotation is small; together they must still fit one channel-layer message.
        size = sum(len(json.dumps(a.data, separators=(",", ":"))) for a in self.annotations)
        if size > ANNOTATIONS_MESSAGE_MAX_BYTES:
            raise ValueError(f"at most {ANNOTATIONS_MESSAGE_MAX_BYTES} bytes of annotations")
        return self


ReviewMessage = Annotated[
    ReviewJoin
    | ReviewLeave
    | ReviewPing
    | ReviewHandover
    | ReviewView
    | ReviewPointer
    | ReviewAnnotations,
    Field(discriminator="type"),
]
review_message = TypeAdapter[ReviewMessage](ReviewMessage)


class ReviewParticipant(Event):
    type: Literal["review.participant"] = "review.participant"
    user_id: int
    name: str


class ReviewState(Event):
    """Who is in the review and who leads; sent to its group whenever either changes."""

    type: Literal["review.state"] = "review.state"
    consult_id: int
    study: str
    lead_user_id: int | None
    participants: list[ReviewParticipant]


class ReviewJoined(Event):
    """The answer to a join: the review as it is now and the annotations saved with it."""

    type: Literal["review.joined"] = "review.joined"
    user_id: int
    state: ReviewState
    annotations: list[SavedAnnotation]


# The lead's messages as followers receive them: what the lead sent, and who sent it.


class ReviewViewRelayed(Event):
    type: Literal["review.view"] = "review.view"
    from_user_id: int
    state: ViewState


class ReviewPointerRelayed(Event):
    type: Literal["review.pointer"] = "review.pointer"
    from_user_id: int
    pointer: PointerPosition | None


class ReviewAnnotationsRelayed(Event):
    type: Literal["review.annotations"] = "review.annotations"
    from_user_id: int
    annotations: list[SavedAnnotation]


def review_relayed(
    message: ReviewView | ReviewPointer | ReviewAnnotations, *, from_user_id: int
) -> ReviewViewRelayed | ReviewPointerRelayed | ReviewAnnotationsRelayed:
    """The lead's message as it goes out to the followers."""
    if isinstance(message, ReviewView):
        return ReviewViewRelayed(from_user_id=from_user_id, state=message.state)
    if isinstance(message, ReviewPointer):
        return ReviewPointerRelayed(from_user_id=from_user_id, pointer=message.pointer)
    return ReviewAnnotationsRelayed(from_user_id=from_user_id, annotations=message.annotations)


class ReviewRefusal(Event):
    """A review move was refused (a handover to someone who just left); nothing changed."""

    type: Literal["review.refused"] = "review.refused"
    reason: str


class ReviewInvalid(Event):
    """A message from this socket was not understood and was dropped; the socket stays open.

    `fields` names what was wrong, as dotted paths into the message (e.g. `state.zoom`), and
    `reason` says it in words for the browser's console and logs.
    """

    type: Literal["review.invalid"] = "review.invalid"
    reason: str
    fields: list[str]


def _field(error: ErrorDetails) -> str:
    if error["type"] in {"union_tag_invalid", "union_tag_not_found"}:
        return "type"
    return ".".join(str(part) for part in error["loc"]) or "message"


def review_invalid(error: ValidationError | None, *, reason: str = "") -> ReviewInvalid:
    """The answer to a message that was refused: what was wrong, by field."""
    if error is None:
        return ReviewInvalid(reason=reason, fields=[])
    errors = error.errors(include_url=False, include_input=False)
    problems = "; ".join(f"{_field(e)}: {e['msg']}" for e in errors[:10])
    return ReviewInvalid(reason=reason or problems, fields=sorted({_field(e) for e in errors}))
