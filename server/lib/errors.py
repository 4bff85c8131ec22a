"""The one domain error: what services raise when a rule refuses, in words, naming the field.

Every app's errors subclass `DomainError` (`consult/errors.py`, `imaging/errors.py`,
`server/directory/errors.py`, ...). A subclass sets its `kind` (which HTTP status the JSON API
answers with, in `server/lib/api.py`) and a `default_message`; a raise may give words of its
own and the field at fault. Pages show the same words through `server/lib/http.py`'s
`page_error`. Protocol statuses (DIMSE, DICOMweb, tus) stay in their protocols' modules.
"""

from enum import StrEnum
from typing import ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# An input's name where the refusal is not about one input (Django REST framework's word).
NON_FIELD = "non_field_errors"


class ErrorKind(StrEnum):
    """What sort of refusal it is; the JSON API answers each with its own HTTP status."""

    INVALID = "invalid"  # 400: the input breaks a rule
    FORBIDDEN = "forbidden"  # 403: the caller may not do this at all
    NOT_FOUND = "not_found"  # 404: missing, or hidden from the caller
    CONFLICT = "conflict"  # 409: the object's state no longer allows it


class DomainError(Exception):
    """A refusal by the rules, in words the user reads (translated when shown).

    `field` names the input at fault ("" when none does); `code` names which rule refused when
    a field has several, for programs (the words are for people).
    """

    kind: ClassVar[ErrorKind] = ErrorKind.INVALID
    default_message: ClassVar[str | Promise] = _("The request cannot be carried out.")
    default_field: ClassVar[str] = ""

    def __init__(
        self, message: str | Promise | None = None, *, field: str | None = None, code: str = ""
    ) -> None:
        self._message = self.default_message if message is None else message
        # args hold plain text (for logs, pickling, Celery's JSON); `message` stays lazy.
        super().__init__(str(self._message))
        self.field = self.default_field if field is None else field
        self.code = code

    @property
    def message(self) -> str:
        """The words, in the language active now."""
        return str(self._message)

    def __str__(self) -> str:
        return self.message

    def details(self) -> dict[str, object]:
        """What the JSON answer carries beside the words (e.g. the id of an existing record)."""
        return {}
