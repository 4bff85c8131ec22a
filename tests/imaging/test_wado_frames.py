"""WADO-RS frames, rendered, thumbnail and bulk data through a real daphne server."""

import io
from collections.abc import Iterator

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.encaps import get_frame

from imaging.models import Instance
from server.accounts.models import User
from server.accounts.services import api_token_create
from server.audit.models import AuditEvent, AuditOutcome
from tests.conftest import World
from tests.imaging.conftest import dicom_dataset, for_patient
from tests.lib.daphne import daphne_server

# Committed data is what the daphne process sees, so these tests commit for real.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CARD = "HC-0099"
J2K = "1.2.840.10008.1.2.4.90"
EMRI_J2K = "emri_small_jpeg_2k_lossless.dcm"  # 10 frames, JPEG 2000 lossless
US_JPEG = "color3d_jpeg_baseline.dcm"  # 120 frames, JPEG baseline


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = {"MEDIA_ROOT": str(tmp_path_factory.mktemp("archive"))}
    with daphne_server(log, env) as base:
        yield base


@pytest.fixture
def carded(world: World) -> World:
    world.patient.health_card_number = CARD
    world.patient.save()
    return world


def _token(user: User) -> str:
    return api_token_create(user=user, name="test")[1]


def _client(server: str, user: User) -> DICOMwebClient:
    return DICOMwebClient(
        url=f"{server}/dicomweb", headers={"Authorization": f"Bearer {_token(user)}"}
    )


def _stored(server: str, world: World, *names: str) -> list[pydicom.Dataset]:
    datasets: list[pydicom.Dataset] = [
        pydicom.dcmread(io.BytesIO(for_patient(name, world.patient))) for name in names
    ]
    response = _client(server, world.clinic_doctor).store_instances(datasets)
    assert "FailedSOPSequence" not in response
    return datasets


def _uids(ds: pydicom.Dataset) -> tuple[str, str, str]:
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


def _url(server: str, ds: pydicom.Dataset, tail: str = "") -> str:
    study, series, sop = _uids(ds)
    return f"{server}/dicomweb/studies/{study}/series/{series}/instances/{sop}{tail}"


def test_frames_come_native_or_decoded_with_dicomweb_client(server: str, carded: World) -> None:
    emri, us, ct = _stored(server, carded, EMRI_J2K, US_JPEG, "CT_small.dcm")
    client = _client(server, carded.clinic_doctor)

    decoded = client.retrieve_instance_frames(
        *_uids(emri), frame_numbers=[3, 7], media_types=(("application/octet-stream", "*"),)
    )
    reference = dicom_dataset("emri_small.dcm").pixel_array
    assert decoded == [reference[2].astype("<u2").tobytes(), reference[6].astype("<u2").tobytes()]

    native = client.retrieve_instance_frames(
        *_uids(emri), frame_numbers=[2], media_types=(("image/jp2", "*"),)
    )
    assert native == [get_frame(emri.PixelData, 1, number_of_frames=10)]

    last = client.retrieve_instance_frames(
        *_uids(us), frame_numbers=[120], media_types=(("image/jpeg", "*"),)
    )
    assert last == [get_frame(us.PixelData, 119, number_of_frames=120)]
    assert last[0].startswith(b"\xff\xd8")

    plain = client.retrieve_instance_frames(*_uids(ct), frame_numbers=[1])
    assert plain == [ct.PixelData]


def test_rendered_and_thumbnails_with_dicomweb_client(server: str, carded: World) -> None:
    emri, us, mr = _stored(server, carded, EMRI_J2K, US_JPEG, "MR_small.dcm")
    client = _client(server, carded.clinic_doctor)

    png = client.retrieve_instance_rendered(*_uids(mr), media_types=("image/png",))
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (mr.Columns, mr.Rows))
    narrow = client.retrieve_instance_rendered(
        *_uids(mr), media_types=("image/png",), params={"window": "600,100,linear"}
    )
    assert not np.array_equal(np.asarray(image), np.asarray(Image.open(io.BytesIO(narrow))))

    frame = client.retrieve_instance_frames_rendered(
        *_uids(us), frame_numbers=[60], media_types=("image/jpeg",), params={"viewport": "64,64"}
    )
    shown = Image.open(io.BytesIO(frame))
    assert (shown.format, shown.mode, max(shown.size)) == ("JPEG", "RGB", 64)

    headers = {"Authorization": f"Bearer {_token(carded.clinic_doctor)}"}
    study_thumb = requests.get(
        f"{server}/dicomweb/studies/{emri.StudyInstanceUID}/thumbnail", headers=headers, timeout=10
    )
    assert study_thumb.status_code == 200
    assert study_thumb.headers["Content-Type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(study_thumb.content)).size) == 128
    instance_thumb = requests.get(
        _url(server, us, "/thumbnail?viewport=32,32"),
        headers={**headers, "Accept": "image/png"},
        timeout=10,
    )
    assert instance_thumb.headers["Content-Type"] == "image/png"
    assert max(Image.open(io.BytesIO(instance_thumb.content)).size) == 32


def test_media_types_and_refusals(server: str, carded: World) -> None:
    (emri,) = _stored(server, carded, EMRI_J2K)
    token = _token(carded.clinic_doctor)

    def get(tail: str, accept: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if accept is not None:
            headers["Accept"] = accept
        return requests.get(_url(server, emri, tail), headers=headers, timeout=10)

    decoded = get("/frames/1")
    assert decoded.status_code == 200
    assert decoded.headers["Content-Type"].startswith(
        'multipart/related; type="application/octet-stream"; boundary='
    )
    assert b"Content-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1" in (
        decoded.content
    )
    for accept in (
        'multipart/related; type="image/jp2"; transfer-syntax="*"',
        "multipart/related; type=image/jp2; transfer-syntax=*",
        'multipart/related; type="*/*"; transfer-syntax=*',
    ):
        native = get("/frames/1,10", accept)
        assert native.status_code == 200, accept
        assert native.headers["Content-Type"].startswith('multipart/related; type="image/jp2"')
        assert native.content.count(f"Content-Type: image/jp2; transfer-syntax={J2K}".encode()) == 2
    assert get("/frames/1", 'multipart/related; type="image/jpeg"').status_code == 406
    assert get("/frames/11").status_code == 404
    assert get("/frames/1,,2").status_code == 400
    assert get("/frames/abc").status_code == 400

    assert get("/rendered").headers["Content-Type"] == "image/jpeg"
    assert get("/rendered", "image/webp").headers["Content-Type"] == "image/webp"
    assert get("/rendered?accept=image/png", "image/jpeg").headers["Content-Type"] == "image/png"
    assert get("/rendered", "text/html").status_code == 406
    assert get("/rendered?quality=0").status_code == 400
    assert get("/rendered?window=1,2,cubic").status_code == 400
    assert get("/frames/1,2/rendered").status_code == 400
    assert get("/frames/11/rendered").status_code == 404
    series_rendered = requests.get(
        _url(server, emri).rsplit("/instances/", 1)[0] + "/rendered",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert series_rendered.headers["Content-Type"].startswith(
        'multipart/related; type="image/jpeg"'
    )

    metadata = get("/metadata").json()[0]
    pixel_uri = metadata["7FE00010"]["BulkDataURI"]
    pixels = requests.get(
        server + pixel_uri, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert pixels.headers["Content-Type"].startswith('multipart/related; type="application/octet')
    reference = dicom_dataset("emri_small.dcm").PixelData
    assert reference in pixels.content
    assert get("/bulkdata/00100010").status_code == 404  # a text element is no bulk data


def test_unrelated_township_gets_404_and_reads_are_audited_once(server: str, carded: World) -> None:
    (emri,) = _stored(server, carded, EMRI_J2K)
    tails = [
        "/frames/1",
        "/frames/1/rendered",
        "/rendered",
        "/thumbnail",
        "/bulkdata/7FE00010",
    ]
    study_url = f"{server}/dicomweb/studies/{emri.StudyInstanceUID}"
    series_url = f"{study_url}/series/{emri.SeriesInstanceUID}"
    urls = [_url(server, emri, tail) for tail in tails] + [
        f"{study_url}/rendered",
        f"{study_url}/thumbnail",
        f"{series_url}/rendered",
        f"{series_url}/thumbnail",
    ]
    stranger = {"Authorization": f"Bearer {_token(carded.other_clinic_doctor)}"}
    for url in urls:
        assert requests.get(url, headers=stranger, timeout=10).status_code == 404, url
    denied = AuditEvent.objects.filter(
        actor_id=carded.other_clinic_doctor.pk, outcome=AuditOutcome.DENIED
    )
    assert denied.count() == len(urls)

    doctor = {"Authorization": f"Bearer {_token(carded.clinic_doctor)}"}
    for url in urls:
        assert requests.get(url, headers=doctor, timeout=10).status_code == 200, url
    reads = AuditEvent.objects.filter(
        event="imaging.study.read", actor_id=carded.clinic_doctor.pk, outcome=AuditOutcome.SUCCESS
    )
    assert reads.count() == 1
    assert Instance.objects.count() == 1
