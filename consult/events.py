"""Live worklist messages of consults, published to each affected user's group.

They carry ids and statuses only, never patient data: the page refetches what it shows.
"""

from datetime import datetime
from typing import Literal

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
