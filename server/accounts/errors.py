"""Domain errors raised by account services."""

from datetime import datetime


class AccountLocked(Exception):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"Account locked until {until.isoformat()}")
        self.until = until
