"""Domain errors of the image archive."""


class StudyAlreadyMatched(Exception):
    """The study is already linked to a patient; reconciliation is for unmatched studies."""
