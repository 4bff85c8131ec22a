"""Domain errors of consults: each names the field at fault and says why in words.

The one API handler (`server/lib/api.py`) answers them with 400, or 409 for `NotEditable`;
pages show the same words on the field through `server/lib/http.py`'s `page_error`.
"""

from django.utils.translation import gettext_lazy as _

from server.lib.errors import NON_FIELD, DomainError, ErrorKind


class ConsultError(DomainError):
    """A request the rules refuse; `field` names the input at fault, if one is."""

    default_message = _("The consult rules do not allow this.")
    default_field = NON_FIELD


class InvalidTransition(ConsultError):
    """The move is not in the transition table, or its guard does not hold."""

    default_message = _("The consult cannot make this move now.")


class SessionNotOpen(InvalidTransition):
    """The live session is started outside its join window (too early, or its slot is over)."""

    default_message = _("The session cannot be started now.")


class NotQualified(ConsultError):
    """The practitioner lacks the specialty, title or years of practice asked for."""

    default_message = _("The doctor lacks the specialty, title or years of practice asked for.")


class PasswordMismatch(ConsultError):
    """Signing re-asks the password, and it was wrong."""

    default_message = _("The password is not correct.")
    default_field = "password"


class OpinionFrozen(ConsultError):
    """A signed opinion version cannot change; amend it instead."""

    default_message = _("The opinion is signed; say why you amend it.")


class InvalidAttachment(ConsultError):
    """The file's type or size is not allowed."""

    default_message = _("This file cannot be attached.")


class NotEditable(ConsultError):
    """The consult has moved on from the state in which it could be changed (HTTP 409)."""

    kind = ErrorKind.CONFLICT
    default_message = _("Only a draft can be edited; this request has been sent.")


class ReviewRefused(ConsultError):
    """A shared-review move the sender may not make now (not the lead, the other left)."""

    default_message = _("This move in the shared review is not allowed now.")
