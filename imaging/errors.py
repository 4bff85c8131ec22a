"""Domain errors of the image archive."""


class StudyAlreadyMatched(Exception):
    """The study is already linked to a patient; reconciliation is for unmatched studies."""


class StudyDeleteReasonMissing(Exception):
    """Deleting a study needs a reason, which the audit trail keeps."""
