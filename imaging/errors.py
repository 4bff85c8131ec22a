"""Domain errors of the image archive.

The tus endpoints (`imaging/api.py`) answer the upload errors with tus's own statuses; the
others reach clients through the one API handler and page helper (`server/lib/errors.py`).
"""

from django.utils.translation import gettext_lazy as _

from server.lib.errors import DomainError, ErrorKind


class StudyAlreadyMatched(DomainError):
    """The study is already linked to a patient; reconciliation is for unmatched studies."""

    kind = ErrorKind.CONFLICT
    default_message = _("Someone has already linked this study to a patient.")


class StudyMatchRefused(DomainError):
    """Only the doctors of an unmatched study's own institution match it to a consult's patient."""

    kind = ErrorKind.FORBIDDEN
    default_message = _(
        "Only the doctors of the study's own institution may match it to a patient."
    )


class StudyDeleteReasonMissing(DomainError):
    """Deleting a study needs a reason, which the audit trail keeps."""

    default_message = _("Give the reason for deleting the study.")
    default_field = "reason"


class UploadRefused(DomainError):
    """A browser upload request the archive will not take, in words for the client."""

    default_message = _("The archive will not take this upload.")


class UploadTooLarge(UploadRefused):
    """The declared file is larger than the archive takes."""

    default_message = _("The file is too large for the archive.")


class UploadLimitReached(UploadRefused):
    """The user already has as many unfinished uploads as allowed."""

    default_message = _("You have too many unfinished uploads; let them finish first.")


class UploadOffsetMismatch(DomainError):
    """The client sent bytes for another offset than the upload has reached."""

    kind = ErrorKind.CONFLICT
    default_message = _("The upload is at another offset; ask for it and resume.")

    def __init__(self, offset: int) -> None:
        super().__init__()
        self.offset = offset


class UploadChecksumMismatch(DomainError):
    """A piece arrived damaged: its SHA-256 is not the one its client declared."""

    default_message = _("The piece arrived damaged; send it again.")
