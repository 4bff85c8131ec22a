"""A browser-style upload cut half-way by a dropped request and a stopped server, then resumed
against a new daphne: the study is stored once, every file intact, and attached to the consult."""

import base64
import hashlib
import http.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydicom.uid import generate_uid

from consult.models import ConsultStudy, Status
from imaging.models import Instance, Study, Upload, UploadState
from server.accounts.services import api_token_create
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.imaging.conftest import dataset_bytes, dicom_dataset
from tests.lib.daphne import daphne_server

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PIECE = 64 * 1024
CLINIC_PATIENT_ID = "T-0042"  # the township's own number: the study arrives unmatched


@dataclass
class File:
    data: bytes
    location: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class Tus:
    """A tus 1.0.0 client over http.client, with a bearer token, as a workstation would speak."""

    def __init__(self, base_url: str, token: str) -> None:
        parts = urlsplit(base_url)
        assert parts.hostname is not None
        self.host, self.port = parts.hostname, parts.port or 80
        self.headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        conn.request(method, path, body=body, headers={**self.headers, **(headers or {})})
        response = conn.getresponse()
        response.read()
        conn.close()
        return response

    def create(self, file: File) -> None:
        metadata = ",".join(
            f"{key} {base64.b64encode(value.encode()).decode()}"
            for key, value in (("filename", "IM"), ("sha256", file.sha256))
        )
        response = self.request(
            "POST",
            "/api/v1/imaging/uploads/",
            headers={"Upload-Length": str(len(file.data)), "Upload-Metadata": metadata},
        )
        assert response.status == 201
        file.location = response.headers["Location"]

    def offset(self, file: File) -> int:
        response = self.request("HEAD", file.location)
        assert response.status == 200
        return int(response.headers["Upload-Offset"])

    def send_piece(self, file: File, offset: int) -> int:
        piece = file.data[offset : offset + PIECE]
        response = self.request(
            "PATCH",
            file.location,
            piece,
            {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
        )
        assert response.status == 204
        return int(response.headers["Upload-Offset"])

    def start_piece_and_hang(self, file: File, offset: int) -> http.client.HTTPConnection:
        """Send a PATCH's headers and half its body, and leave the connection hanging."""
        piece = file.data[offset : offset + PIECE]
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        conn.putrequest("PATCH", file.location)
        for key, value in {
            **self.headers,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(len(piece)),
        }.items():
            conn.putheader(key, value)
        conn.endheaders()
        conn.send(piece[: len(piece) // 2])
        return conn

    def finish(self, file: File) -> None:
        offset = self.offset(file)
        while offset < len(file.data):
            offset = self.send_piece(file, offset)


def _study_files() -> list[File]:
    """A CT series of six small slices and a CR of about 2.5 MB, in one unmatched study."""
    study_uid, ct_series, cr_series = generate_uid(), generate_uid(), generate_uid()
    files = []
    for number in range(1, 7):
        ds = dicom_dataset("CT_small.dcm")
        ds.PatientID = CLINIC_PATIENT_ID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, ct_series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = number
        files.append(File(dataset_bytes(ds)))
    cr = dicom_dataset("CT_small.dcm")
    cr.PatientID = CLINIC_PATIENT_ID
    cr.StudyInstanceUID, cr.SeriesInstanceUID = study_uid, cr_series
    cr.SOPInstanceUID = cr.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    cr.Modality = "CR"
    cr.Rows = cr.Columns = 1120
    cr.PixelData = hashlib.shake_256(b"CR pixels").digest(1120 * 1120 * 2)
    files.append(File(dataset_bytes(cr)))
    return files


@pytest.fixture
def media(tmp_path: Path, settings: Any) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


def test_upload_cut_half_way_resumes_and_stores_the_study_once_and_intact(
    world: World, media: Path, tmp_path: Path
) -> None:
    consult = make_consult(world, Status.ACCEPTED)
    _token, raw_token = api_token_create(user=world.clinic_doctor, name="clinic workstation")
    files = _study_files()
    total = sum(len(f.data) for f in files)
    big = files[-1]
    env = {"MEDIA_ROOT": str(media)}

    with daphne_server(tmp_path / "daphne-1.log", env) as first_url:
        tus = Tus(first_url, raw_token)
        for file in files[:3]:
            tus.create(file)
            tus.finish(file)
        tus.create(big)
        offset = 0
        while offset < len(big.data) // 2:
            offset = tus.send_piece(big, offset)
        sent = sum(len(f.data) for f in files[:3]) + offset
        assert total / 3 < sent < 2 * total / 3
        # The connection drops in the middle of a piece, and the server stops under it.
        hanging = tus.start_piece_and_hang(big, offset)
    hanging.close()

    with daphne_server(tmp_path / "daphne-2.log", env) as second_url:
        tus = Tus(second_url, raw_token)
        assert tus.offset(big) == offset
        tus.finish(big)
        for file in files[3:-1]:
            tus.create(file)
            tus.finish(file)
        attach = http.client.HTTPConnection(urlsplit(second_url).netloc, timeout=30)
        study_uid = Upload.objects.filter(state=UploadState.STORED).first()
        assert study_uid is not None
        attach.request(
            "POST",
            f"/api/v1/consults/{consult.pk}/studies/",
            body=f'{{"study_instance_uid": "{study_uid.study_instance_uid}"}}',
            headers={"Authorization": f"Bearer {raw_token}", "Content-Type": "application/json"},
        )
        assert attach.getresponse().status == 201
        attach.close()

    uploads = Upload.objects.all()
    assert len(uploads) == len(files)
    assert {u.state for u in uploads} == {UploadState.STORED}
    study = Study.objects.get()
    assert (study.instance_count, study.series_count) == (len(files), 2)
    stored = {i.sha256: (media / i.storage_name).read_bytes() for i in Instance.objects.all()}
    assert {hashlib.sha256(data).hexdigest() for data in stored.values()} == {
        f.sha256 for f in files
    }
    assert {f.sha256: f.data for f in files} == stored
    assert ConsultStudy.objects.get(consult=consult).study_id == study.pk
    study.refresh_from_db()
    assert study.patient_id == consult.patient_id
    assert list((media / "uploads").glob("*.part")) == []
