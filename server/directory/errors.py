"""Domain errors of the consortium directory."""


class NotAllowed(Exception):
    """The caller may not perform an action that is not about one hidden object."""


class DuplicateAlreadyReviewed(Exception):
    """The suspected duplicate has already been merged or dismissed."""
