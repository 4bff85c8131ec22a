"""Domain errors of the consortium directory."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from server.lib.errors import DomainError, ErrorKind


class NotAllowed(DomainError):
    """The caller may not perform an action that is not about one hidden object."""

    kind = ErrorKind.FORBIDDEN
    default_message = _("You may not do this.")


class DuplicateAlreadyReviewed(DomainError):
    """The suspected duplicate has already been merged or dismissed."""

    kind = ErrorKind.CONFLICT
    default_message = _("Someone has already reviewed this possible duplicate.")


class PatientAlreadyRegistered(DomainError):
    """A current record with the same national ID number exists in the consortium.

    `patient_id` names it only when the caller may open it; otherwise the caller learns no
    more than that the person is registered somewhere in the consortium.
    """

    kind = ErrorKind.CONFLICT
    default_message = _(
        "A patient with this national ID number is already registered in the consortium, "
        "in a record you may not open. Nothing new was registered. To get access, ask a "
        "coordinator of the consortium: they can see every record and arrange access "
        "for you."
    )
    default_field = "national_id"

    def __init__(self, message: str | Promise, *, patient_id: int | None) -> None:
        super().__init__(message)
        self.patient_id = patient_id

    def details(self) -> dict[str, object]:
        return {} if self.patient_id is None else {"patient_id": self.patient_id}


class PatientInvalid(DomainError):
    """A patient's details break a rule (a birth date no living person has)."""

    default_message = _("The patient's details are not valid.")
