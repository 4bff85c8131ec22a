"""The archive's files: written once under their SHA-256, through Django's storage API."""

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def storage_name(sha256: str) -> str:
    """Where the file with this SHA-256 lives in the default storage."""
    return f"dicom/{sha256[:2]}/{sha256[2:4]}/{sha256}.dcm"


def blob_write(name: str, data: bytes) -> None:
    """Write content-addressed bytes once; a complete existing copy is kept as it is."""
    if default_storage.exists(name):
        if default_storage.size(name) == len(data):
            return
        # A copy cut short by a crash during an earlier write: replace it.
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:
        # A concurrent writer won the race with the same content; drop the alternate copy.
        default_storage.delete(saved)
