"""The SCP's own Upper Layer end to end: fragmentation, abort, cancel, negotiation, limits."""

import hashlib
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # generated at import time
    ModalityWorklistInformationFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from imaging.models import CallingAETitle, Instance
from tests.conftest import World
from tests.imaging.conftest import archive_digest, dataset_bytes, dicom_dataset
from tests.lib.dicom_scp import SCP_AE_TITLE, Scp, dcmtk_tool, scp_with_archive

# Committed data is what the SCP process sees, so these tests commit for real.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EAST = "EAST_CT"
MAX_INSTANCE_BYTES = 8 * 1024 * 1024
MAX_ASSOCIATIONS = 2
TIMEOUT_SECONDS = 1
DEADLINE_SECONDS = 10


@pytest.fixture(scope="module")
def scp(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scp]:
    env = {
        "DICOM_SCP_MAX_ASSOCIATIONS": str(MAX_ASSOCIATIONS),
        "DICOM_SCP_ACSE_TIMEOUT": str(TIMEOUT_SECONDS),
        "DICOM_SCP_NETWORK_TIMEOUT": str(TIMEOUT_SECONDS),
        "IMAGING_MAX_INSTANCE_BYTES": str(MAX_INSTANCE_BYTES),
    }
    with scp_with_archive(tmp_path_factory, env) as running:
        yield running


@pytest.fixture
def east(world: World) -> World:
    CallingAETitle.objects.create(ae_title=EAST, institution=world.township)
    return world


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _associate(scp: Scp, *contexts: tuple[str, list[str]], max_pdu: int = 16384) -> Association:
    scu = AE(ae_title=EAST)
    scu.maximum_pdu_size = max_pdu
    for abstract_syntax, transfer_syntaxes in contexts or (
        (Verification, [ExplicitVRLittleEndian]),
    ):
        scu.add_requested_context(abstract_syntax, transfer_syntaxes)
    return scu.associate("127.0.0.1", scp.port, ae_title=SCP_AE_TITLE)


def _ct(rows: int = 128, study_uid: str | None = None) -> Dataset:
    """CT_small with fresh UIDs and, for a large instance, a bigger noise image."""
    ds = dicom_dataset("CT_small.dcm")
    ds.PatientID = "NOBODY"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    if rows != ds.Rows:
        ds.Rows = ds.Columns = rows
        pixels = np.random.default_rng(0).integers(0, 2000, (rows, rows), dtype=np.int16)
        ds.PixelData = pixels.tobytes()
    return ds


def _p_data(context_id: int, control: int, fragment: bytes) -> bytes:
    pdv = struct.pack(">IBB", len(fragment) + 2, context_id, control) + fragment
    return struct.pack(">BxI", 0x04, len(pdv)) + pdv


def _store_command(ds: Dataset) -> bytes:
    command = Dataset()
    command.CommandGroupLength = 0
    command.AffectedSOPClassUID = ds.SOPClassUID
    command.CommandField = 0x0001
    command.MessageID = 1
    command.Priority = 0
    command.CommandDataSetType = 0x0001
    command.AffectedSOPInstanceUID = ds.SOPInstanceUID
    encoded = encode(command, True, True)
    assert encoded is not None
    return encoded


def test_large_pdus_in_and_small_pdus_out_carry_a_large_instance_intact(
    scp: Scp, east: World, tmp_path: Path
) -> None:
    large = _ct(rows=1536)  # 4.7 MB of pixels: more than one of the SCP's 4 MiB PDUs
    assoc = _associate(scp, (CTImageStorage, [ExplicitVRLittleEndian]))
    assert assoc.is_established
    try:
        assert assoc.acceptor.maximum_length == 4 * 1024 * 1024  # pynetdicom sends PDUs this big
        assert assoc.send_c_store(large).Status == 0x0000
    finally:
        assoc.release()

    out = tmp_path / "out"
    out.mkdir()
    keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={large.StudyInstanceUID}"]
    command = [dcmtk_tool("getscu"), "-aet", EAST, "-aec", SCP_AE_TITLE, "-pdu", "4096"]
    result = subprocess.run(
        [*command, "-S", "-od", str(out), *keys, "127.0.0.1", str(scp.port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [retrieved] = [pydicom.dcmread(path) for path in out.iterdir()]
    assert hashlib.sha256(retrieved.PixelData).digest() == hashlib.sha256(large.PixelData).digest()


def test_an_oversized_data_set_aborts_the_association_before_it_is_all_read(
    scp: Scp, east: World
) -> None:
    before = archive_digest(scp.archive)
    oversized = _ct(rows=2200)  # 9.7 MB of pixels, over this SCP's 8 MB instance limit
    assoc = _associate(scp, (CTImageStorage, [ExplicitVRLittleEndian]))
    assert assoc.is_established
    status = assoc.send_c_store(oversized)
    assert "Status" not in status  # no response: the SCP aborted the association
    _wait_for(lambda: assoc.is_aborted)
    _wait_for(lambda: f"data set over {MAX_INSTANCE_BYTES} bytes" in scp.log.read_text())
    assert not Instance.objects.filter(sop_instance_uid=oversized.SOPInstanceUID).exists()
    assert archive_digest(scp.archive) == before


def test_association_aborted_half_way_through_a_c_store_stores_nothing(
    scp: Scp, east: World
) -> None:
    before = archive_digest(scp.archive)
    ds = _ct()
    data = dataset_bytes(ds)[132:]  # what follows the preamble; the SCP never sees file meta
    assoc = _associate(scp, (CTImageStorage, [ExplicitVRLittleEndian]))
    assert assoc.is_established
    [context] = assoc.accepted_contexts
    assert context.context_id is not None
    assert assoc.dul.socket is not None
    assoc.dul.socket.send(_p_data(context.context_id, 0x03, _store_command(ds)))
    assoc.dul.socket.send(_p_data(context.context_id, 0x00, data[: len(data) // 2]))
    assoc.abort()

    _wait_for(lambda: "aborted by the peer" in scp.log.read_text())
    assert not Instance.objects.exists()
    assert archive_digest(scp.archive) == before


def test_c_cancel_stops_a_c_find_before_all_matches_are_sent(scp: Scp, east: World) -> None:
    studies = 5
    assoc = _associate(
        scp,
        (CTImageStorage, [ExplicitVRLittleEndian]),
        (StudyRootQueryRetrieveInformationModelFind, [ExplicitVRLittleEndian]),
    )
    assert assoc.is_established
    try:
        for _ in range(studies):
            assert assoc.send_c_store(_ct()).Status == 0x0000
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = ""
        responses = assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind, msg_id=9)
        assoc.send_c_cancel(9, query_model=StudyRootQueryRetrieveInformationModelFind)
        statuses = [status.Status for status, _ in responses]
    finally:
        assoc.release()
    assert statuses[-1] == 0xFE00
    assert len(statuses) - 1 < studies


def test_unsupported_contexts_are_rejected_while_the_others_work(scp: Scp, east: World) -> None:
    assoc = _associate(
        scp,
        (Verification, [ExplicitVRLittleEndian]),
        (ModalityWorklistInformationFind, [ExplicitVRLittleEndian]),
        (CTImageStorage, ["1.2.826.0.1.3680043.2.9999.1"]),  # a transfer syntax nobody knows
    )
    assert assoc.is_established
    try:
        rejected = {str(cx.abstract_syntax): cx.result for cx in assoc.rejected_contexts}
        assert rejected == {ModalityWorklistInformationFind: 0x03, CTImageStorage: 0x04}
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


def test_a_pdv_for_a_context_that_was_not_accepted_aborts_the_association(
    scp: Scp, east: World
) -> None:
    assoc = _associate(scp)
    assert assoc.is_established
    assert assoc.dul.socket is not None
    assoc.dul.socket.send(_p_data(99, 0x03, _store_command(_ct())))
    _wait_for(lambda: assoc.is_aborted)


def test_associations_over_the_limit_are_rejected_until_one_ends(scp: Scp, east: World) -> None:
    held = [_associate(scp) for _ in range(MAX_ASSOCIATIONS)]
    assert all(assoc.is_established for assoc in held)

    def echo() -> subprocess.CompletedProcess[str]:
        command = [dcmtk_tool("echoscu"), "-aet", EAST, "-aec", SCP_AE_TITLE]
        return subprocess.run(
            [*command, "127.0.0.1", str(scp.port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    try:
        refused = echo()
        assert refused.returncode != 0
        assert "Local Limit Exceeded" in refused.stdout + refused.stderr
        assert "Rejected Transient" in refused.stdout + refused.stderr
    finally:
        held[0].release()
    _wait_for(lambda: echo().returncode == 0)
    held[1].release()


def test_an_idle_association_and_a_silent_connection_are_cut(scp: Scp, east: World) -> None:
    assoc = _associate(scp)
    assert assoc.is_established
    with socket.create_connection(("127.0.0.1", scp.port)) as silent:
        silent.settimeout(DEADLINE_SECONDS)
        started = time.monotonic()
        while silent.recv(4096):  # an A-ABORT, then the end of the connection
            pass
        assert time.monotonic() - started < DEADLINE_SECONDS
    _wait_for(lambda: assoc.is_aborted)
