"""Attachments are checked as whole files: a PDF by its trailer, an image by Pillow's verify,
through the API; nothing is stored for a refused one."""

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from consult.models import ConsultAttachment
from tests.conftest import World
from tests.consult.conftest import make_consult


def _pdf(*, xref_shift: int = 0) -> bytes:
    """A whole, empty PDF; `xref_shift` moves where its trailer says the cross-reference is."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    return out + b"startxref\n%d\n%%%%EOF\n" % (xref + xref_shift)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, "PNG")
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, "JPEG")
    return out.getvalue()


def _upload(world: World, kind: str, name: str, content: bytes) -> tuple[int, object]:
    client = Client()
    client.force_login(world.clinic_doctor)
    consult = make_consult(world)
    response = client.post(
        f"/api/v1/consults/{consult.pk}/attachments/",
        {"kind": kind, "file": SimpleUploadedFile(name, content)},
    )
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("kind", "name", "content"),
    [("document", "a.pdf", _pdf()), ("photo", "a.png", _png()), ("photo", "a.jpg", _jpeg())],
)
def test_whole_files_of_each_type_are_attached(
    world: World, archive: Path, kind: str, name: str, content: bytes
) -> None:
    status, _ = _upload(world, kind, name, content)

    assert status == 201


@pytest.mark.parametrize(
    ("kind", "name", "content"),
    [
        ("document", "a.pdf", b"%PDF-1.4\n<html><script>alert(1)</script></html>\n"),
        ("document", "a.pdf", _pdf()[:-40]),
        ("document", "a.pdf", _pdf(xref_shift=7)),
        ("photo", "a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        ("photo", "a.png", _png()[:40]),
        ("photo", "a.jpg", b"\xff\xd8\xff<html></html>"),
    ],
)
def test_a_file_whose_first_bytes_lie_about_the_rest_is_refused_naming_the_file(
    world: World, archive: Path, kind: str, name: str, content: bytes
) -> None:
    status, body = _upload(world, kind, name, content)

    assert (status, list(body)) == (400, ["file"])  # type: ignore[call-overload]  # a dict
    assert not ConsultAttachment.objects.exists()
    assert not any(path.is_file() for path in archive.rglob("*"))
