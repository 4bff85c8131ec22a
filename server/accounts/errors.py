"""Domain errors raised by account services."""

from datetime import datetime

from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from server.lib.errors import DomainError, ErrorKind


class AccountLocked(DomainError):
    """Too many failed sign-ins: the username is locked out until `until`."""

    kind = ErrorKind.FORBIDDEN
    default_message = _(
        "Too many failed sign-in attempts. This account is locked until %(until)s; "
        "try again then or ask your institution administrator."
    )

    def __init__(self, until: datetime) -> None:
        shown = formats.time_format(timezone.localtime(until), "H:i")
        super().__init__(str(self.default_message) % {"until": shown})
        self.until = until
