"""Instances checked before anything is written: UIDs by their grammar, pixel data by the size
its attributes declare, a deflated data set by what it inflates to; through STOW-RS and the
real SCP."""

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.test import Client
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # generated at import time
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
)

from imaging.dicom import DicomRejected, FailureReason, instance_parse, uid_valid
from imaging.models import CallingAETitle, Instance
from server.accounts.services import api_token_create
from tests.conftest import World
from tests.imaging.conftest import archive_digest, dataset_bytes, dicom_dataset
from tests.lib.dicom_scp import SCP_AE_TITLE, dicom_scp

CARD = "HC-0042"
FIND = StudyRootQueryRetrieveInformationModelFind
STOW_TYPE = 'multipart/related; type="application/dicom"; boundary=b0undary'


def _stow(world: World, data: bytes) -> tuple[int, list[int]]:
    token = api_token_create(user=world.clinic_doctor, name="test")[1]
    body = b"--b0undary\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n--b0undary--\r\n"
    response = Client().post(
        "/dicomweb/studies",
        data=body,
        content_type=STOW_TYPE,
        headers={"Authorization": f"Bearer {token}"},
    )
    dataset = pydicom.Dataset.from_json(response.json())
    return response.status_code, [
        int(item.FailureReason) for item in dataset.get("FailedSOPSequence", [])
    ]


def _ct(**changes: Any) -> pydicom.Dataset:
    ds = dicom_dataset("CT_small.dcm")
    ds.PatientID = CARD
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return ds


@pytest.mark.parametrize(
    ("uid", "valid"),
    [
        ("1.2.840.10008.1.2", True),
        ("0.0.1", True),
        ("1.2/3", False),
        ("1.2.03", False),
        ("1..2", False),
        ("1.2.", False),
        ("1.2\n", False),
        ("1." + "2" * 63, False),
        ("", False),
    ],
)
def test_uid_valid_follows_the_grammar_of_ps3_5_9_1(uid: str, valid: bool) -> None:
    assert uid_valid(uid) is valid


@pytest.mark.parametrize("uid", ["1.2/3", "1.2.03", "1.2.3\x00.4"])
def test_stow_refuses_an_instance_with_a_malformed_uid_before_writing_anything(
    world: World, archive: Path, uid: str
) -> None:
    before = archive_digest(archive)

    status, failures = _stow(world, dataset_bytes(_ct(SOPInstanceUID=uid)))

    assert (status, failures) == (409, [FailureReason.DATA_SET_DOES_NOT_MATCH])
    assert archive_digest(archive) == before
    assert not Instance.objects.exists()


def test_an_instance_with_less_pixel_data_than_declared_is_refused(
    world: World, archive: Path
) -> None:
    ds = _ct()
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]

    with pytest.raises(DicomRejected) as caught:
        instance_parse(dataset_bytes(ds))
    status, failures = _stow(world, dataset_bytes(ds))

    assert caught.value.reason is FailureReason.DATA_SET_DOES_NOT_MATCH
    assert "Pixel Data" in caught.value.message
    assert (status, failures) == (409, [FailureReason.DATA_SET_DOES_NOT_MATCH])
    assert not Instance.objects.exists()


def _deflated(padding: int) -> bytes:
    ds = _ct()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.add_new(0x00091010, "LO", "YZ")
    ds.add_new(0x00091011, "OB", b"\0" * padding)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_a_deflated_instance_that_inflates_beyond_the_instance_limit_is_refused(
    world: World, archive: Path, settings: Any
) -> None:
    settings.IMAGING_MAX_INSTANCE_BYTES = 4 * 1024 * 1024
    bomb = _deflated(16 * 1024 * 1024)
    assert len(bomb) < 100_000

    with pytest.raises(DicomRejected) as caught:
        instance_parse(bomb, max_inflated=settings.IMAGING_MAX_INSTANCE_BYTES)
    status, failures = _stow(world, bomb)

    assert caught.value.reason is FailureReason.OUT_OF_RESOURCES
    assert "inflate" in caught.value.message
    assert (status, failures) == (409, [FailureReason.OUT_OF_RESOURCES])
    assert _stow(world, _deflated(1024))[0] == 200


@pytest.fixture(scope="module")
def scp_port(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    archive = tmp_path_factory.mktemp("archive")
    log = tmp_path_factory.mktemp("dicom_scp") / "dicom_scp.log"
    with dicom_scp(log, {"MEDIA_ROOT": str(archive)}) as port:
        yield port


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_c_store_refuses_a_malformed_uid_with_a_failure_status(world: World, scp_port: int) -> None:
    CallingAETitle.objects.create(ae_title="EAST_CT", institution=world.township)
    ae = AE(ae_title="EAST_CT")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    ds = _ct(SOPInstanceUID="1.2.03")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    association = ae.associate("127.0.0.1", scp_port, ae_title=SCP_AE_TITLE)
    assert association.is_established
    try:
        status = association.send_c_store(ds)
    finally:
        association.release()

    assert status.Status == FailureReason.DATA_SET_DOES_NOT_MATCH
    assert not Instance.objects.exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_c_find_with_a_nul_byte_is_refused_and_the_association_goes_on(
    world: World, scp_port: int
) -> None:
    CallingAETitle.objects.create(ae_title="EAST_CT", institution=world.township)
    ae = AE(ae_title="EAST_CT")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)

    def query(name: str) -> pydicom.Dataset:
        identifier = pydicom.Dataset()
        identifier.QueryRetrieveLevel = "STUDY"
        identifier.PatientName = name
        return identifier

    association = ae.associate("127.0.0.1", scp_port, ae_title=SCP_AE_TITLE)
    assert association.is_established
    try:
        statuses = [
            [status.Status for status, _ in association.send_c_find(query(name), FIND)]
            for name in ("Wang\x00*", "Wang*")
        ]
    finally:
        association.release()

    assert statuses == [[0xC000], [0x0000]]
