"""Resumable browser uploads (tus 1.0.0): the protocol, the limits, and what the archive did."""

import base64
import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from imaging.models import IngestSource, Instance, Study, Upload, UploadState
from imaging.services import uploads_expired_delete
from server.accounts.models import User
from server.accounts.services import api_token_create
from server.celery import app as celery_app
from tests.conftest import World
from tests.imaging.conftest import archive_digest, dicom_file, with_patient_id

pytestmark = pytest.mark.usefixtures("archive")
ENDPOINT = "/api/v1/imaging/uploads/"
TUS = {"Tus-Resumable": "1.0.0"}
PIECE = 1024


def _signed_in(user: User) -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(user)
    return client


def _metadata(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def _create(client: Client, data: bytes, *, sha256: str | None = None) -> Any:
    digest = sha256 or hashlib.sha256(data).hexdigest()
    return client.post(
        ENDPOINT,
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _metadata(filename="IM0001", sha256=digest),
        },
    )


def _patch(client: Client, location: str, offset: int, piece: bytes, **headers: str) -> Any:
    return client.patch(
        location,
        piece,
        content_type="application/offset+octet-stream",
        headers={**TUS, "Upload-Offset": str(offset), **headers},
    )


def _send(client: Client, data: bytes, *, sha256: str | None = None) -> str:
    """Upload `data` in pieces; return the upload's URL."""
    created = _create(client, data, sha256=sha256)
    assert created.status_code == 201, created.content
    location: str = created["Location"]
    for offset in range(0, len(data), PIECE):
        response = _patch(client, location, offset, data[offset : offset + PIECE])
        assert response.status_code == 204, response.content
        assert response["Upload-Offset"] == str(min(offset + PIECE, len(data)))
    return location


def _parts(archive: Path) -> list[Path]:
    return sorted((archive / "uploads").glob("*.part")) if (archive / "uploads").exists() else []


def test_upload_in_pieces_stores_the_instance_and_says_so(
    world: World, archive: Path, django_capture_on_commit_callbacks: Any
) -> None:
    client = _signed_in(world.clinic_doctor)
    data = dicom_file("CT_small.dcm")
    created = _create(client, data)
    assert created.status_code == 201
    assert created["Tus-Resumable"] == "1.0.0"
    location = created["Location"]
    assert location.startswith(ENDPOINT)
    head = client.head(location, headers=TUS)
    assert (head.status_code, head["Upload-Offset"], head["Upload-Length"]) == (
        200,
        "0",
        str(len(data)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        _send_rest(client, location, data)

    assert client.head(location, headers=TUS)["Upload-Offset"] == str(len(data))
    result = client.get(location).json()
    assert result["state"] == UploadState.STORED
    assert result["message"] == ""
    instance = Instance.objects.get()
    assert (instance.source, instance.stored_by_id) == (IngestSource.UPLOAD, world.clinic_doctor.pk)
    assert (archive / instance.storage_name).read_bytes() == data
    assert result["sop_instance_uid"] == instance.sop_instance_uid
    assert result["study_instance_uid"] == instance.study.study_instance_uid
    assert _parts(archive) == []


def _send_rest(client: Client, location: str, data: bytes) -> None:
    for offset in range(0, len(data), PIECE):
        assert _patch(client, location, offset, data[offset : offset + PIECE]).status_code == 204


def test_upload_options_announce_tus_extensions_and_limits(world: World, settings: Any) -> None:
    settings.IMAGING_MAX_INSTANCE_BYTES = 1000
    response = _signed_in(world.clinic_doctor).options(ENDPOINT)
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) == {
        "creation",
        "termination",
        "expiration",
        "checksum",
    }
    assert (response["Tus-Max-Size"], response["Tus-Checksum-Algorithm"]) == ("1000", "sha256")


def test_upload_patch_at_another_offset_is_409_with_the_real_offset(world: World) -> None:
    client = _signed_in(world.clinic_doctor)
    data = dicom_file("CT_small.dcm")
    location = _create(client, data)["Location"]
    assert _patch(client, location, 0, data[:PIECE]).status_code == 204

    again = _patch(client, location, 0, data[:PIECE])
    ahead = _patch(client, location, 2 * PIECE, data[2 * PIECE : 3 * PIECE])

    assert (again.status_code, again["Upload-Offset"]) == (409, str(PIECE))
    assert (ahead.status_code, ahead["Upload-Offset"]) == (409, str(PIECE))
    assert Upload.objects.get().offset == PIECE


def test_upload_with_a_wrong_file_checksum_is_refused_and_nothing_is_stored(
    world: World, archive: Path, django_capture_on_commit_callbacks: Any
) -> None:
    client = _signed_in(world.clinic_doctor)
    before = archive_digest()
    with django_capture_on_commit_callbacks(execute=True):
        location = _send(client, dicom_file("CT_small.dcm"), sha256="0" * 64)

    result = client.get(location).json()
    assert (result["state"], result["refusal_reason"]) == (UploadState.REFUSED, "checksum")
    assert "checksum" in result["message"]
    assert archive_digest() == before
    assert not Study.objects.exists()


def test_upload_piece_with_a_wrong_checksum_is_460_and_not_kept(world: World) -> None:
    client = _signed_in(world.clinic_doctor)
    data = dicom_file("CT_small.dcm")
    location = _create(client, data)["Location"]
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    right = base64.b64encode(hashlib.sha256(data[:PIECE]).digest()).decode()

    refused = _patch(client, location, 0, data[:PIECE], **{"Upload-Checksum": f"sha256 {wrong}"})
    unknown = _patch(client, location, 0, data[:PIECE], **{"Upload-Checksum": f"md5 {wrong}"})
    taken = _patch(client, location, 0, data[:PIECE], **{"Upload-Checksum": f"sha256 {right}"})

    assert (refused.status_code, unknown.status_code, taken.status_code) == (460, 400, 204)
    assert Upload.objects.get().offset == PIECE


def test_upload_larger_than_the_archive_takes_is_413(world: World, settings: Any) -> None:
    settings.IMAGING_MAX_INSTANCE_BYTES = 1000
    response = _create(_signed_in(world.clinic_doctor), b"x" * 1001)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert not Upload.objects.exists()


def test_upload_beyond_its_declared_length_is_400(world: World) -> None:
    client = _signed_in(world.clinic_doctor)
    data = dicom_file("CT_small.dcm")
    location = _create(client, data[:100])["Location"]
    assert _patch(client, location, 0, data[:101]).status_code == 400
    assert Upload.objects.get().offset == 0


def test_upload_without_the_tus_version_is_412(world: World) -> None:
    response = _signed_in(world.clinic_doctor).post(ENDPOINT, headers={"Upload-Length": "10"})
    assert (response.status_code, response["Tus-Version"]) == (412, "1.0.0")


@pytest.mark.parametrize("method", ["head", "get", "patch", "delete"])
def test_upload_of_another_user_is_404(world: World, method: str) -> None:
    data = dicom_file("CT_small.dcm")
    location = _create(_signed_in(world.clinic_doctor), data)["Location"]
    colleague = _signed_in(world.other_clinic_doctor)

    if method == "patch":
        response = _patch(colleague, location, 0, data[:PIECE])
    else:
        response = getattr(colleague, method)(location, headers=TUS)

    assert response.status_code == 404
    assert Upload.objects.get().offset == 0


def test_upload_is_opened_only_by_doctors_who_store_images(world: World) -> None:
    data = dicom_file("CT_small.dcm")
    assert _create(_signed_in(world.institution_admin), data).status_code == 403
    assert _create(Client(), data).status_code in (401, 403)
    assert not Upload.objects.exists()


def test_upload_with_a_bearer_token_works_like_the_browser(world: World) -> None:
    _token, raw = api_token_create(user=world.specialist, name="workstation")
    client = Client(headers={"authorization": f"Bearer {raw}"})
    location = _send(client, dicom_file("CT_small.dcm"))
    assert client.get(location).json()["state"] == UploadState.STORED
    assert Instance.objects.get().institution_id == world.county.pk


def test_unfinished_uploads_per_user_are_limited(world: World, settings: Any) -> None:
    settings.IMAGING_UPLOADS_OPEN_PER_USER = 2
    client = _signed_in(world.clinic_doctor)
    data = dicom_file("CT_small.dcm")
    assert [_create(client, data).status_code for _ in range(3)] == [201, 201, 429]
    assert _create(_signed_in(world.other_clinic_doctor), data).status_code == 201


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (dicom_file("CT_small.dcm")[:3000], "CANNOT_UNDERSTAND"),
        (b"Patient letter, not an image.\n" * 40, "CANNOT_UNDERSTAND"),
    ],
    ids=["truncated", "not-dicom"],
)
def test_upload_of_a_broken_file_arrives_but_the_archive_refuses_it_in_words(
    world: World, data: bytes, reason: str, django_capture_on_commit_callbacks: Any
) -> None:
    client = _signed_in(world.clinic_doctor)
    before = archive_digest()
    with django_capture_on_commit_callbacks(execute=True):
        location = _send(client, data)

    result = client.get(location).json()
    assert (result["state"], result["refusal_reason"]) == (UploadState.REFUSED, reason)
    assert result["message"] == "This is not a DICOM file the archive can read."
    assert archive_digest() == before


def test_upload_refusal_words_are_in_chinese_for_chinese_readers(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    client = _signed_in(world.clinic_doctor)
    with django_capture_on_commit_callbacks(execute=True):
        location = _send(client, b"not an image" * 100)
    result = client.get(location, headers={"accept-language": "zh-hans"}).json()
    assert result["message"] == "这不是存档能读取的 DICOM 文件。"


def test_upload_of_an_already_stored_file_says_so(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    client = _signed_in(world.clinic_doctor)
    data = with_patient_id("CT_small.dcm", "HC-0009")
    with django_capture_on_commit_callbacks(execute=True):
        first = _send(client, data)
        second = _send(client, data)
    assert client.get(first).json()["state"] == UploadState.STORED
    assert client.get(second).json()["state"] == UploadState.ALREADY_STORED
    assert Instance.objects.count() == 1


def test_upload_terminated_by_its_owner_is_gone_with_its_pieces(
    world: World, archive: Path, django_capture_on_commit_callbacks: Any
) -> None:
    client = _signed_in(world.clinic_doctor)
    data = dicom_file("CT_small.dcm")
    location = _create(client, data)["Location"]
    _patch(client, location, 0, data[:PIECE])
    assert len(_parts(archive)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(location, headers=TUS).status_code == 204
    assert client.head(location, headers=TUS).status_code == 404
    assert _parts(archive) == []


def test_expired_uploads_are_deleted_with_their_pieces(world: World, archive: Path) -> None:
    client = _signed_in(world.clinic_doctor)
    data = dicom_file("CT_small.dcm")
    location = _create(client, data)["Location"]
    _patch(client, location, 0, data[:PIECE])
    _patch(client, location, PIECE, data[PIECE : 2 * PIECE])
    fresh = _create(client, data)["Location"]
    _patch(client, fresh, 0, data[:PIECE])
    old = Upload.objects.get(pk=location.rsplit("/", 1)[1])
    old.expires_at -= timedelta(days=30)
    old.save()

    assert client.head(location, headers=TUS).status_code == 404
    assert uploads_expired_delete() == 1
    assert uploads_expired_delete() == 0
    assert list(Upload.objects.values_list("pk", flat=True)) == [
        Upload.objects.exclude(pk=old.pk).get().pk
    ]
    assert [p.name for p in _parts(archive)] == [f"{fresh.rsplit('/', 1)[1]}-000000000000.part"]


def test_expired_uploads_are_deleted_hourly_by_beat() -> None:
    entries = [e["task"] for e in celery_app.conf.beat_schedule.values()]
    assert "imaging.tasks.uploads_expired_delete_task" in entries
    celery_app.loader.import_default_modules()
    assert "imaging.tasks.uploads_expired_delete_task" in celery_app.tasks


def test_upload_in_one_piece_may_exceed_the_form_body_limit(
    world: World, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = _signed_in(world.clinic_doctor)
    data = dicom_file("CT_small.dcm")
    location = _create(client, data)["Location"]
    with django_capture_on_commit_callbacks(execute=True):
        assert _patch(client, location, 0, data).status_code == 204
    assert client.get(location).json()["state"] == UploadState.STORED


def test_a_file_name_with_a_nul_byte_is_refused_in_words(world: World) -> None:
    data = dicom_file("CT_small.dcm")
    response = _signed_in(world.clinic_doctor).post(
        ENDPOINT,
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _metadata(
                filename="IM\x000001", sha256=hashlib.sha256(data).hexdigest()
            ),
        },
    )

    assert response.status_code == 400
    assert "NUL" in response.content.decode()
    assert not Upload.objects.exists()
