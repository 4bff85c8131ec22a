"""Domain errors of the consortium directory."""


class NotAllowed(Exception):
    """The caller may not perform an action that is not about one hidden object."""


class DuplicateAlreadyReviewed(Exception):
    """The suspected duplicate has already been merged or dismissed."""


class PatientAlreadyRegistered(Exception):
    """A current record with the same national ID number exists in the consortium.

    `patient_id` names it only when the caller may open it; otherwise the caller learns no
    more than that the person is registered somewhere in the consortium.
    """

    field = "national_id"

    def __init__(self, message: str, *, patient_id: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.patient_id = patient_id
