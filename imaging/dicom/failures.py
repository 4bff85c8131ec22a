"""Why the archive refuses an instance: PS3.4 failure reasons and the rejection carrying one."""

from enum import IntEnum


class FailureReason(IntEnum):
    """Status codes of PS3.4 Annex B / PS3.7 Annex C used in STOW-RS FailureReason (0008,1197)."""

    PROCESSING_FAILURE = 0x0110
    DUPLICATE_SOP_INSTANCE = 0x0111
    NOT_AUTHORIZED = 0x0124
    OUT_OF_RESOURCES = 0xA700
    DATA_SET_DOES_NOT_MATCH = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122


class DicomRejected(Exception):
    """The bytes are not an instance the archive can store, with the PS3.4 reason code."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
