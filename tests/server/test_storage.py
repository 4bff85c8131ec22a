"""The archive's file storage: files appear whole, and an existing name is never replaced."""

from collections.abc import Iterator
from pathlib import Path

from django.core.files.base import ContentFile

from server.lib.storage import AtomicFileSystemStorage


class _Observed(ContentFile[bytes]):
    """Content that looks at the storage between its two chunks."""

    def __init__(self, storage: AtomicFileSystemStorage, name: str) -> None:
        super().__init__(b"")
        self.storage, self.name_watched = storage, name
        self.seen_midway: bool | None = None

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        yield b"first half, "
        self.seen_midway = self.storage.exists(self.name_watched)
        yield b"second half"


def test_a_file_is_visible_only_once_complete(tmp_path: Path) -> None:
    storage = AtomicFileSystemStorage(location=tmp_path)
    content = _Observed(storage, "dicom/ab/blob.dcm")
    assert storage.save("dicom/ab/blob.dcm", content) == "dicom/ab/blob.dcm"
    assert content.seen_midway is False
    assert (tmp_path / "dicom/ab/blob.dcm").read_bytes() == b"first half, second half"
    assert [p.name for p in (tmp_path / "dicom/ab").iterdir()] == ["blob.dcm"]  # no leftovers
    assert oct((tmp_path / "dicom/ab/blob.dcm").stat().st_mode & 0o777) == "0o644"


def test_an_existing_name_is_kept_and_the_new_file_gets_another(tmp_path: Path) -> None:
    storage = AtomicFileSystemStorage(location=tmp_path)
    storage.save("blob.dcm", ContentFile(b"one"))
    other = storage.save("blob.dcm", ContentFile(b"two"))
    assert other != "blob.dcm"
    assert (tmp_path / "blob.dcm").read_bytes() == b"one"
    assert (tmp_path / other).read_bytes() == b"two"
