"""DICOMweb end to end: the dicomweb-client package against a real daphne server."""

import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.urls import reverse

from imaging.models import Instance, Study, UnmatchedReason
from server.accounts.models import User
from server.accounts.services import api_token_create
from server.audit.models import AuditEvent, AuditOutcome
from server.directory.models import Sex
from tests.conftest import World
from tests.factories import PatientFactory
from tests.imaging.conftest import (
    archive_digest,
    dicom_file,
    for_patient,
    mallory,
    mallory_uid,
    with_patient_id,
)
from tests.lib.daphne import daphne_server

# Committed data is what the daphne process sees, so these tests commit for real.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CARD = "HC-0042"
MAX_REQUEST = 3_000_000
STOW_TYPE = 'multipart/related; type="application/dicom"; boundary=b0undary'


@pytest.fixture(scope="module")
def live_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("archive")


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory, live_archive: Path
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = {"MEDIA_ROOT": str(live_archive), "IMAGING_MAX_REQUEST_BYTES": str(MAX_REQUEST)}
    with daphne_server(log, env) as base:
        yield base


def _token(user: User) -> str:
    return api_token_create(user=user, name="test")[1]


def _client(server: str, user: User) -> DICOMwebClient:
    return DICOMwebClient(
        url=f"{server}/dicomweb", headers={"Authorization": f"Bearer {_token(user)}"}
    )


def _post(
    server: str, user: User, parts: list[bytes], content_type: str = STOW_TYPE
) -> requests.Response:
    body = b"".join(
        b"--b0undary\r\nContent-Type: application/dicom\r\n\r\n" + part + b"\r\n" for part in parts
    )
    return requests.post(
        f"{server}/dicomweb/studies",
        data=body + b"--b0undary--\r\n",
        headers={"Content-Type": content_type, "Authorization": f"Bearer {_token(user)}"},
        timeout=30,
    )


def _failures(response: requests.Response) -> list[int]:
    dataset = pydicom.Dataset.from_json(response.json())
    return [int(item.FailureReason) for item in dataset.get("FailedSOPSequence", [])]


@pytest.fixture
def carded(world: World) -> World:
    world.patient.health_card_number = CARD
    world.patient.save()
    return world


FILES = [
    "CT_small.dcm",  # explicit VR little endian
    "MR_small_implicit.dcm",  # implicit VR
    "JPEG2000.dcm",  # JPEG 2000
    "emri_small_RLE.dcm",  # RLE lossless, from pydicom-data
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline
    "US1_J2KR.dcm",  # JPEG 2000 lossless, pydicom-data
    "chrX1.dcm",  # ISO_IR 192
    "chrX2.dcm",  # GB18030
]
CHINESE_NAMED = ("chrX1.dcm", "chrX2.dcm")


def test_store_search_and_retrieve_with_dicomweb_client(server: str, carded: World) -> None:
    client = _client(server, carded.clinic_doctor)
    # The Chinese-named files keep their names (the charsets are under test): they name
    # someone else than the patient, so they wait for reconciliation.
    datasets = [
        pydicom.dcmread(
            io.BytesIO(
                with_patient_id(name, CARD)
                if name in CHINESE_NAMED
                else for_patient(name, carded.patient)
            )
        )
        for name in FILES
    ]
    response = client.store_instances(datasets)
    assert len(response.ReferencedSOPSequence) == len(FILES)
    assert "FailedSOPSequence" not in response
    assert Study.objects.filter(patient=carded.patient).count() == len(FILES) - 2
    assert set(
        Study.objects.filter(patient__isnull=True).values_list("unmatched_reason", flat=True)
    ) == {UnmatchedReason.NAME_DIFFERS}

    studies = client.search_for_studies(search_filters={"PatientName": "王^小*"})
    assert {s["00100010"]["Value"][0]["Ideographic"] for s in studies} == {"王^小东", "王^小東"}
    found = client.search_for_studies(
        search_filters={"PatientName": "xiaodong"},
        fuzzymatching=True,
        fields=["StudyDescription", "00100030"],
        limit=1,
    )
    assert len(found) == 1
    assert "00080061" in found[0]
    in_2004 = client.search_for_studies(search_filters={"StudyDate": "20040101-20041231"})
    expected = Study.objects.filter(study_date__year=2004).count()
    assert len(in_2004) == expected >= 3
    everything = client.search_for_studies(offset=1, limit=100, fields=["all"])
    assert len(everything) == len(FILES) - 1

    ct = datasets[0]
    series = client.search_for_series(ct.StudyInstanceUID)
    assert [s["0020000E"]["Value"][0] for s in series] == [ct.SeriesInstanceUID]
    instances = client.search_for_instances(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    assert instances[0]["00080018"]["Value"] == [ct.SOPInstanceUID]
    # Each result's RetrieveURL (0008,1190) is the resource's own URL (on the host the request
    # named: dicomweb-client names it without the port), and it answers.
    uids = (ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    ct_study = client.search_for_studies(search_filters={"StudyInstanceUID": uids[0]})
    auth = {"Authorization": f"Bearer {_token(carded.clinic_doctor)}"}
    for result, name, depth in (
        (ct_study, "study", 1),
        (series, "series", 2),
        (instances, "instance", 3),
    ):
        kwargs = dict(zip(("study", "series", "instance")[:depth], uids, strict=False))
        path = reverse(f"imaging:{name}", kwargs=kwargs)
        assert result[0]["00081190"]["Value"] == [f"http://127.0.0.1{path}"]
        with requests.get(server + path, headers=auth, stream=True, timeout=30) as retrieved:
            assert retrieved.status_code == 200

    j2k = datasets[2]
    as_stored = client.retrieve_instance(
        j2k.StudyInstanceUID,
        j2k.SeriesInstanceUID,
        j2k.SOPInstanceUID,
        media_types=(("application/dicom", "*"),),
    )
    assert as_stored.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"
    stored = Instance.objects.get(sop_instance_uid=j2k.SOPInstanceUID)
    assert stored.transfer_syntax_uid == "1.2.840.10008.1.2.4.91"
    uncompressed = client.retrieve_study(j2k.StudyInstanceUID)
    assert {d.file_meta.TransferSyntaxUID for d in uncompressed} == {"1.2.840.10008.1.2.1"}
    assert uncompressed[0].pixel_array.shape == as_stored.pixel_array.shape

    gb = datasets[7]
    metadata = client.retrieve_series_metadata(gb.StudyInstanceUID, gb.SeriesInstanceUID)
    assert metadata[0]["00100010"]["Value"][0]["Ideographic"] == "王^小东"
    assert metadata[0]["7FE00010"]["BulkDataURI"].endswith("/bulkdata/7FE00010")

    reads = AuditEvent.objects.filter(
        event="imaging.study.read", actor_id=carded.clinic_doctor.pk, outcome=AuditOutcome.SUCCESS
    )
    # One per retrieved study and viewing session, however many requests: the J2K and GB18030
    # studies by the client, the CT study through its RetrieveURLs with a token of their own.
    assert reads.count() == 3


def test_metadata_is_gzipped_and_revalidated_with_its_etag(server: str, carded: World) -> None:
    token = _token(carded.clinic_doctor)
    assert _post(server, carded.clinic_doctor, [for_patient("CT_small.dcm", carded.patient)]).ok
    uid = Study.objects.get().study_instance_uid
    url = f"{server}/dicomweb/studies/{uid}/metadata"
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    first = requests.get(url, headers=headers, timeout=10)
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "application/dicom+json"
    assert first.headers["Content-Encoding"] == "gzip"
    again = requests.get(
        url, headers={**headers, "If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304


def test_bad_input_gets_its_error_and_leaves_the_archive_unchanged(
    server: str, carded: World, live_archive: Path
) -> None:
    doctor = carded.clinic_doctor
    assert _post(server, doctor, [dicom_file("MR_small.dcm")]).status_code == 200
    before = archive_digest(live_archive)

    cases = {
        "truncated": dicom_file("MR_truncated.dcm"),
        "zero-byte": b"",
        "non-DICOM": b"%PDF-1.7\n" * 100,
    }
    for name, data in cases.items():
        response = _post(server, doctor, [data])
        assert response.status_code == 409, name
        assert _failures(response) == [0xC000], name
    duplicate = _post(server, doctor, [dicom_file("MR_small_implicit.dcm")])
    assert (duplicate.status_code, _failures(duplicate)) == (409, [0x0111])
    wrong_type = _post(server, doctor, [dicom_file("CT_small.dcm")], "application/dicom")
    assert wrong_type.status_code == 415
    oversized = _post(server, doctor, [dicom_file("RG1_UNCR.dcm")])
    assert oversized.status_code == 413
    assert archive_digest(live_archive) == before

    mixed = _post(server, doctor, [b"junk", dicom_file("CT_small.dcm")])
    assert mixed.status_code == 202
    assert _failures(mixed) == [0xC000]
    assert Instance.objects.count() == 2


def test_unrelated_township_finds_nothing_and_gets_404(server: str, carded: World) -> None:
    assert _post(server, carded.clinic_doctor, [for_patient("CT_small.dcm", carded.patient)]).ok
    study = Study.objects.get()
    instance = Instance.objects.get()
    stranger = _client(server, carded.other_clinic_doctor)
    assert stranger.search_for_studies() == []
    assert stranger.search_for_studies(search_filters={"PatientID": CARD}) == []
    token = _token(carded.other_clinic_doctor)
    base = f"{server}/dicomweb/studies/{study.study_instance_uid}"
    paths = [
        "",
        "/metadata",
        "/series",
        f"/series/{instance.series.series_instance_uid}/instances/{instance.sop_instance_uid}",
    ]
    for path in paths:
        response = requests.get(
            base + path, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 404, path
    missing = requests.get(
        f"{server}/dicomweb/studies/1.2.3.4",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert missing.status_code == 404
    assert requests.get(base, timeout=10).status_code == 401
    denied = AuditEvent.objects.filter(
        actor_id=carded.other_clinic_doctor.pk, outcome=AuditOutcome.DENIED
    )
    assert denied.count() == len(paths) + 1


def test_query_strings_are_percent_decoded(server: str, carded: World) -> None:
    parts = [with_patient_id(name, CARD) for name in ("chrX1.dcm", "chrX2.dcm", "CT_small.dcm")]
    assert _post(server, carded.clinic_doctor, parts).status_code == 200
    headers = {"Authorization": f"Bearer {_token(carded.clinic_doctor)}"}
    query = "PatientName=%E7%8E%8B%5E%E5%B0%8F%2A&includefield=StudyDescription%2C00100030"
    response = requests.get(f"{server}/dicomweb/studies?{query}", headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/dicom+json"
    results = response.json()
    assert len(results) == 2
    assert all("00100030" in result for result in results)
    empty = requests.get(f"{server}/dicomweb/studies?PatientID=nobody", headers=headers, timeout=10)
    assert empty.status_code == 204


def test_stow_of_a_stranger_with_a_card_of_another_institution_tells_nothing(
    server: str, world: World
) -> None:
    zhang = PatientFactory.create(
        home_institution=world.township,
        name="张德明",
        sex=Sex.MALE,
        birth_date=date(1951, 6, 2),
        health_card_number="HC-ZDM-0001",
    )
    storer = world.other_clinic_doctor
    headers = {"Authorization": f"Bearer {_token(storer)}"}

    def told(card: str, key: str) -> tuple[int, str, str]:
        """What the storer hears: the STOW answer and a search for the study, UIDs and card
        number masked."""
        stored = _post(server, storer, [mallory(card, key)])
        found = requests.get(
            f"{server}/dicomweb/studies?StudyInstanceUID={mallory_uid(key)}&includefield=all",
            headers=headers,
            timeout=10,
        )
        assert found.status_code == 200
        return (
            stored.status_code,
            stored.text.replace(mallory_uid(key), "UID"),
            found.text.replace(mallory_uid(key), "UID").replace(card, "CARD"),
        )

    elsewhere = told(zhang.health_card_number, "1")
    nowhere = told("HC-NOWHERE-9", "2")

    assert elsewhere[0] == 200
    assert elsewhere == nowhere
    assert not Study.objects.filter(patient=zhang).exists()
    assert Study.objects.filter(patient__isnull=True).count() == 2


def test_stow_matches_a_study_of_the_storers_own_patient(server: str, carded: World) -> None:
    assert _post(server, carded.clinic_doctor, [for_patient("CT_small.dcm", carded.patient)]).ok
    assert Study.objects.get().patient == carded.patient
