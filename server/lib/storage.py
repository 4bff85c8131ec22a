"""File storage whose files appear complete or not at all."""

import os
import tempfile

from django.core.files.base import File
from django.core.files.storage import FileSystemStorage


class AtomicFileSystemStorage(FileSystemStorage):
    """Django's file system storage, but each file is written under a temporary name in its
    directory and linked into place when complete.

    A reader, or another writer of the same content-addressed name, never finds a file half
    written, so a short file under a name can only be a copy a crash cut short (object stores
    give the same guarantee by themselves). An existing name is never overwritten: the link
    fails and the next available name is taken, as Django's own storage does.
    """

    def _save(self, name: str, content: File[bytes]) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        descriptor, partial = tempfile.mkstemp(dir=directory, prefix=".partial-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                for chunk in content.chunks():
                    handle.write(chunk)
            if self.file_permissions_mode is not None:
                os.chmod(partial, self.file_permissions_mode)
            while True:
                try:
                    os.link(partial, full_path)
                    break
                except FileExistsError:
                    name = self.get_available_name(name)
                    full_path = self.path(name)
        finally:
            os.unlink(partial)
        return os.path.relpath(full_path, self.location).replace("\\", "/")
