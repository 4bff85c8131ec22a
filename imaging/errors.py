"""Domain errors of the image archive."""


class StudyAlreadyMatched(Exception):
    """The study is already linked to a patient; reconciliation is for unmatched studies."""


class StudyMatchRefused(Exception):
    """Only the doctors of an unmatched study's own institution match it to a consult's patient."""


class StudyDeleteReasonMissing(Exception):
    """Deleting a study needs a reason, which the audit trail keeps."""


class UploadRefused(Exception):
    """A browser upload request the archive will not take, in words for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UploadTooLarge(UploadRefused):
    """The declared file is larger than the archive takes."""


class UploadLimitReached(UploadRefused):
    """The user already has as many unfinished uploads as allowed."""


class UploadOffsetMismatch(Exception):
    """The client sent bytes for another offset than the upload has reached."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


class UploadChecksumMismatch(Exception):
    """A piece arrived damaged: its SHA-256 is not the one its client declared."""
