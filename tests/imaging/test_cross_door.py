"""One instance through two doors: STOW-RS then C-STORE is a no-op, a changed data set is not.

Each door writes its own file meta (the SCP rebuilds it from the association), so the archive
recognises a re-sent instance by its data set, not by its file.
"""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.test import Client
from pynetdicom import AE

from imaging.dicom import FailureReason, dataset_sha256
from imaging.models import CallingAETitle, IngestSource, Instance, Study
from imaging.services import IngestStatus, instance_ingest
from server.accounts.services import api_token_create
from server.audit.models import AuditEvent, AuditOutcome
from tests.conftest import World
from tests.imaging.conftest import archive_digest, dataset_bytes, dicom_dataset
from tests.lib.dicom_scp import SCP_AE_TITLE, dcmtk_tool, dicom_scp

# Committed data is what the SCP process sees, so these tests commit for real.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CARD = "HC-0042"
EAST = "EAST_CT"
STOW_TYPE = 'multipart/related; type="application/dicom"; boundary=b0undary'


@dataclass(frozen=True)
class Scp:
    port: int
    archive: Path


@pytest.fixture(scope="module")
def scp(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scp]:
    archive = tmp_path_factory.mktemp("archive")
    log = tmp_path_factory.mktemp("dicom_scp") / "dicom_scp.log"
    with dicom_scp(log, {"MEDIA_ROOT": str(archive)}) as port:
        yield Scp(port=port, archive=archive)


@pytest.fixture
def door(world: World, scp: Scp, settings: Any) -> World:
    """The township's CT is registered, the patient carded; both doors share one archive."""
    settings.MEDIA_ROOT = scp.archive
    world.patient.health_card_number = CARD
    world.patient.save()
    CallingAETitle.objects.create(ae_title=EAST, institution=world.township)
    return world


def _stow(world: World, data: bytes) -> int:
    token = api_token_create(user=world.clinic_doctor, name="test")[1]
    body = b"--b0undary\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n--b0undary--\r\n"
    response = Client().post(
        "/dicomweb/studies",
        data=body,
        content_type=STOW_TYPE,
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code


def _dcmtk_send(tool: str, scp: Scp, path: Path) -> subprocess.CompletedProcess[str]:
    command = [dcmtk_tool(tool), "-aet", EAST, "-aec", SCP_AE_TITLE, "127.0.0.1", str(scp.port)]
    return subprocess.run(
        [*command, str(path)], capture_output=True, text=True, timeout=30, check=False
    )


def _instance() -> pydicom.Dataset:
    ds = dicom_dataset("CT_small.dcm")
    ds.PatientID = CARD
    return ds


@pytest.mark.parametrize("tool", ["dcmsend", "storescu"])
def test_stow_then_c_store_of_the_same_instance_is_a_no_op(
    door: World, scp: Scp, tmp_path: Path, tool: str
) -> None:
    data = dataset_bytes(_instance())
    assert _stow(door, data) == 200
    before = archive_digest(scp.archive)
    path = tmp_path / "ct.dcm"
    path.write_bytes(data)

    sent = _dcmtk_send(tool, scp, path)

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "Failed" not in sent.stdout + sent.stderr
    instance = Instance.objects.get()
    assert instance.source == IngestSource.STOW
    assert Study.objects.get().instance_count == 1
    assert archive_digest(scp.archive) == before
    assert not AuditEvent.objects.filter(event="imaging.instance.conflict").exists()


def test_c_store_of_a_changed_data_set_under_the_same_uid_is_refused_and_recorded(
    door: World, scp: Scp
) -> None:
    assert _stow(door, dataset_bytes(_instance())) == 200
    before = archive_digest(scp.archive)
    changed = _instance()
    changed.SeriesDescription = "A different series description"

    scu = AE(ae_title=EAST)
    scu.add_requested_context(changed.SOPClassUID, changed.file_meta.TransferSyntaxUID)
    assoc = scu.associate("127.0.0.1", scp.port, ae_title=SCP_AE_TITLE)
    assert assoc.is_established
    try:
        status = assoc.send_c_store(changed)
    finally:
        assoc.release()

    assert status.Status == FailureReason.DUPLICATE_SOP_INSTANCE
    assert int(FailureReason.DUPLICATE_SOP_INSTANCE) == 0x0111
    assert archive_digest(scp.archive) == before
    conflict = AuditEvent.objects.get(event="imaging.instance.conflict")
    assert conflict.outcome == AuditOutcome.FAILURE
    stored = Instance.objects.get()
    assert conflict.detail["stored_dataset_sha256"] == stored.dataset_sha256
    assert conflict.detail["refused_dataset_sha256"] != stored.dataset_sha256


def test_re_sent_instance_with_other_file_meta_and_no_padding_is_already_stored(
    door: World, scp: Scp
) -> None:
    original = _instance()
    assert "DataSetTrailingPadding" in original  # CT_small carries some; dcmtk drops it
    assert _stow(door, dataset_bytes(original)) == 200
    before = archive_digest(scp.archive)
    resent = _instance()
    del resent.DataSetTrailingPadding
    resent.file_meta.ImplementationVersionName = "OTHER_SENDER"
    resent.file_meta.SourceApplicationEntityTitle = "SOMEWHERE"

    result = instance_ingest(
        data=dataset_bytes(resent),
        source=IngestSource.DIMSE,
        institution=door.township,
        user=None,
    )

    assert result.status is IngestStatus.ALREADY_STORED
    assert archive_digest(scp.archive) == before


def test_dataset_sha256_of_the_stored_file_matches_what_ingest_recorded(
    door: World, scp: Scp
) -> None:
    # The migration backfills existing rows with this function.
    assert _stow(door, dataset_bytes(_instance())) == 200
    instance = Instance.objects.get()
    stored = (scp.archive / instance.storage_name).read_bytes()
    assert dataset_sha256(stored) == instance.dataset_sha256 != instance.sha256
