"""Domain errors of consults; the API turns them into 400s naming the field at fault."""


class ConsultError(Exception):
    """A request the rules refuse; `field` names the input at fault, if one is."""

    def __init__(self, message: str, *, field: str = "non_field_errors", code: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        # Which rule refused, when a field has several (pages pick their words by it).
        self.code = code


class InvalidTransition(ConsultError):
    """The move is not in the transition table, or its guard does not hold."""


class SessionNotOpen(InvalidTransition):
    """The live session is started outside its join window (too early, or its slot is over)."""


class NotQualified(ConsultError):
    """The practitioner lacks the specialty, title or years of practice asked for."""


class PasswordMismatch(ConsultError):
    """Signing re-asks the password, and it was wrong."""


class OpinionFrozen(ConsultError):
    """A signed opinion version cannot change; amend it instead."""


class InvalidAttachment(ConsultError):
    """The file's type or size is not allowed."""


class NotEditable(ConsultError):
    """The consult has moved on from the state in which it could be changed (HTTP 409)."""


class ReviewRefused(ConsultError):
    """A shared-review move the sender may not make now (not the lead, the other left)."""
