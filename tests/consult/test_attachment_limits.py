"""Attachment size limits: one byte over is refused, and an oversize upload stores nothing."""

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from consult import files
from consult.models import ConsultAttachment
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.factories import PASSWORD

PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def _client(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


@pytest.mark.parametrize(("kind", "limit"), [(k, v[1]) for k, v in files.LIMITS.items()])
def test_each_kind_refuses_a_file_one_byte_over_its_limit(kind: str, limit: int) -> None:
    assert isinstance(files.check(kind=kind, head=PNG_HEAD, size=limit), files.Sniffed)
    refused = files.check(kind=kind, head=PNG_HEAD, size=limit + 1)
    assert isinstance(refused, str)
    assert str(limit) in refused


def test_an_oversize_photo_upload_is_a_400_naming_the_file_and_stores_nothing(
    world: World, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    consult = make_consult(world)
    limit = files.LIMITS["photo"][1]
    oversize = SimpleUploadedFile("big.png", PNG_HEAD + b"\x00" * (limit + 1 - len(PNG_HEAD)))
    response = _client("clinic").post(
        f"/api/v1/consults/{consult.pk}/attachments/", {"kind": "photo", "file": oversize}
    )
    assert (response.status_code, list(response.json())) == (400, ["file"])
    assert not ConsultAttachment.objects.exists()
    assert not any(tmp_path.rglob("*.png"))
