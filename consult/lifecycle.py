"""The consult transition table: which moves exist, and which party may make each.

A move not listed here is forbidden. The guard (what must hold for a move) is checked in
`consult.services.transitions`, and who counts as each party is decided by `server.access`.
"""

from enum import StrEnum

from consult.models import Status


class Party(StrEnum):
    REQUESTER = "requester"  # the inviting doctor
    ROUTER = "router"  # consortium coordinators, the target department's head
    CLAIMANT = "claimant"  # a specialist taking the consult from their department queue
    LEAD = "lead"  # the invited doctor who answers (the MDT lead)
    CORRECTOR = "corrector"  # requester or coordinator, marking entered-in-error
    SYSTEM = "system"  # routing and the deadline sweep, with no user


R, RT, C, L, X, S = (
    Party.REQUESTER,
    Party.ROUTER,
    Party.CLAIMANT,
    Party.LEAD,
    Party.CORRECTOR,
    Party.SYSTEM,
)

# Statuses a consult never leaves (closed may still be marked entered-in-error).
TERMINAL = frozenset({Status.CANCELLED, Status.EXPIRED, Status.ENTERED_IN_ERROR})
# Statuses in which the invited doctors no longer work on the consult (declined: it waits for
# new ones).
NOT_IN_HAND = frozenset({Status.DECLINED, Status.CLOSED, *TERMINAL})
# Statuses awaiting routing: a department queue shows these.
AWAITING_ROUTING = frozenset({Status.SUBMITTED, Status.DECLINED})
# Statuses a needs-info pause may return to.
PAUSABLE = frozenset({Status.ASSIGNED, Status.ACCEPTED, Status.SCHEDULED, Status.UNDER_REVIEW})
# Statuses in which files and studies may still be attached.
ATTACHABLE = frozenset(Status) - TERMINAL - {Status.CLOSED}

_P = frozenset

TRANSITIONS: dict[tuple[Status, Status], frozenset[Party]] = {
    (Status.DRAFT, Status.SUBMITTED): _P({R}),
    (Status.DRAFT, Status.CANCELLED): _P({R}),
    (Status.SUBMITTED, Status.ASSIGNED): _P({RT, C, S}),
    (Status.SUBMITTED, Status.CANCELLED): _P({R}),
    (Status.SUBMITTED, Status.EXPIRED): _P({S}),
    (Status.ASSIGNED, Status.ACCEPTED): _P({L}),
    (Status.ASSIGNED, Status.DECLINED): _P({L}),
    (Status.ASSIGNED, Status.NEEDS_INFO): _P({L}),
    (Status.ASSIGNED, Status.CANCELLED): _P({R}),
    (Status.ASSIGNED, Status.EXPIRED): _P({S}),
    (Status.ACCEPTED, Status.SCHEDULED): _P({L}),
    (Status.ACCEPTED, Status.UNDER_REVIEW): _P({L}),
    (Status.ACCEPTED, Status.NEEDS_INFO): _P({L}),
    (Status.ACCEPTED, Status.DECLINED): _P({L}),
    (Status.ACCEPTED, Status.CANCELLED): _P({R}),
    # Moving the session to another time (one missed its slot, or the parties agreed a new one).
    (Status.SCHEDULED, Status.SCHEDULED): _P({L}),
    (Status.SCHEDULED, Status.IN_SESSION): _P({L}),
    (Status.SCHEDULED, Status.NEEDS_INFO): _P({L}),
    (Status.SCHEDULED, Status.CANCELLED): _P({R}),
    (Status.UNDER_REVIEW, Status.OPINION_SIGNED): _P({L}),
    (Status.UNDER_REVIEW, Status.NEEDS_INFO): _P({L}),
    (Status.UNDER_REVIEW, Status.CANCELLED): _P({R}),
    (Status.IN_SESSION, Status.OPINION_SIGNED): _P({L}),
    **{(Status.NEEDS_INFO, back): _P({R}) for back in PAUSABLE},
    (Status.NEEDS_INFO, Status.CANCELLED): _P({R}),
    (Status.DECLINED, Status.ASSIGNED): _P({RT, C, S}),
    (Status.DECLINED, Status.CANCELLED): _P({R}),
    (Status.DECLINED, Status.EXPIRED): _P({S}),
    (Status.OPINION_SIGNED, Status.CLOSED): _P({R}),
    **{(status, Status.ENTERED_IN_ERROR): _P({X}) for status in Status if status not in TERMINAL},
}


def parties_for(from_status: str, to_status: str) -> frozenset[Party]:
    """Who may make the move; empty if the move does not exist."""
    return TRANSITIONS.get((Status(from_status), Status(to_status)), frozenset())
