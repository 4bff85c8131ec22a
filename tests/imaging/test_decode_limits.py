"""Memory bombs: an image whose decoding would take a process down is stored and served as
stored, and refused in words wherever it would be decoded; frame lists do not multiply work."""

import io
import logging
import os
import struct
import subprocess
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import requests
from django.test import Client
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, RLELossless, generate_uid

from imaging.budget import BudgetSpent, MemoryBudget, process_budget
from imaging.dicom import TranscodeTooLarge, transcode_explicit_le
from imaging.lossy import frame_lossy_encode
from imaging.models import CallingAETitle, IngestSource, Instance, PreviewState, Series
from imaging.render import (
    DecodeTooLarge,
    Window,
    dataset_read,
    decode_cost,
    frame_pixels,
    frame_render,
    frame_uncompressed,
)
from imaging.services import IngestStatus, instance_ingest, series_previews_render
from imaging.wado import ParameterInvalid, frame_numbers_parse
from server.accounts.models import User
from server.accounts.services import api_token_create
from tests.conftest import World
from tests.imaging.conftest import dataset_bytes
from tests.lib.daphne import daphne_server
from tests.lib.dicom_scp import SCP_AE_TITLE, Scp, dcmtk_tool, scp_with_archive

CARD = "HC-0666"
MIB = 1024 * 1024
# What a refused request may add to daphne's peak resident memory: the libraries a first
# decode imports and the stored file. Before the caps, the bomb's /rendered added about 1 GB.
GROWTH_BOUND = 100 * MIB


def _rle_zeros(rows: int, columns: int) -> bytes:
    """One RLE frame of 16-bit zeros (PS3.5 G.3): two byte-plane segments, each a PackBits run
    of 128 zero bytes (header byte 0x81) repeated; 8000 x 8000 is about 2 MB."""
    plane = rows * columns
    assert plane % 128 == 0
    segment = b"\x81\x00" * (plane // 128)
    header = struct.pack("<16I", 2, 64, 64 + len(segment), *([0] * 13))
    return header + segment + segment


def _image(
    *, rows: int, columns: int, frames: int = 1, rle: bool = True, study: str | None = None
) -> Dataset:
    """A greyscale 16-bit image of zeros, RLE-compressed unless `rle` is false."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = RLELossless if rle else ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.7")
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = CARD
    ds.PatientName = "Bomb^Test"
    ds.Modality = "OT"
    ds.InstanceNumber = 1
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if rle:
        ds.PixelData = encapsulate([_rle_zeros(rows, columns)] * frames)
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = bytes(rows * columns * 2 * frames)
    return ds


def _bomb() -> Dataset:
    return _image(rows=8000, columns=8000)


def _grey(rows: int, columns: int, *, bits: int, samples: int = 1, **extra: object) -> Dataset:
    ds = _image(rows=rows, columns=columns, rle=False)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.SamplesPerPixel = samples
    if samples == 3:
        ds.PhotometricInterpretation, ds.PlanarConfiguration = "RGB", 0
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    dtype = np.uint16 if bits == 16 else np.uint8
    shape = (rows, columns, samples) if samples == 3 else (rows, columns)
    values = np.random.default_rng(7).integers(0, 2**bits - 1, size=shape, dtype=dtype)
    ds.PixelData = values.tobytes()
    ds.compress(RLELossless, encoding_plugin="pydicom")
    return dataset_read(dataset_bytes(ds))


def _peak(action: Callable[[], object]) -> int:
    """The most memory Python allocated while `action` ran."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _refused_peak(attempt: Callable[[], object], refusal: type[Exception]) -> int:
    def run() -> None:
        with pytest.raises(refusal, match="MiB of memory"):
            attempt()

    return _peak(run)


# --- Decoding: capped, and the cap measures what a decode really takes ------------------------


def test_the_hand_made_rle_frame_decodes_to_zeros() -> None:
    ds = dataset_read(dataset_bytes(_image(rows=64, columns=128, frames=2)))
    assert frame_pixels(ds, 1).shape == (64, 128)
    assert not frame_pixels(ds, 1).any()


@pytest.mark.parametrize(
    ("bits", "samples", "extra", "window"),
    [
        (16, 1, {"RescaleSlope": 2, "RescaleIntercept": -1024}, Window(40, 400)),
        (16, 1, {}, None),
        (8, 1, {"PhotometricInterpretation": "MONOCHROME1"}, None),
        (16, 3, {}, None),
    ],
)
def test_a_decode_takes_no_more_memory_than_its_cost(
    bits: int, samples: int, extra: dict[str, object], window: Window | None
) -> None:
    ds = _grey(512, 512, bits=bits, samples=samples, **extra)

    assert _peak(lambda: frame_render(ds, 0, window=window)) <= decode_cost(ds)
    assert _peak(lambda: frame_uncompressed(ds, 0)) <= decode_cost(ds)


def test_every_decode_of_a_bomb_is_refused_before_it_allocates() -> None:
    data = dataset_bytes(_bomb())
    ds = dataset_read(data)
    limit = 64 * MIB
    attempts: list[Callable[[], object]] = [
        lambda: frame_render(ds, 0, max_bytes=limit),
        lambda: frame_uncompressed(ds, 0, max_bytes=limit),
        lambda: frame_lossy_encode(ds, ratio=10, max_bytes=limit),
    ]
    for attempt in attempts:
        assert _refused_peak(attempt, DecodeTooLarge) < 10 * MIB
    transcode = lambda: transcode_explicit_le(data, max_bytes=limit)  # noqa: E731
    assert _refused_peak(transcode, TranscodeTooLarge) < 20 * MIB
    # The defaults refuse it too: rendering it would take more than a gigabyte.
    with pytest.raises(DecodeTooLarge):
        frame_render(ds, 0)


def test_frame_list_naming_a_frame_twice_is_refused_as_ps3_18_defines_it() -> None:
    with pytest.raises(ParameterInvalid, match="more than once"):
        frame_numbers_parse(",".join(["1"] * 1000))
    with pytest.raises(ParameterInvalid):
        frame_numbers_parse(",".join(str(n) for n in range(1, 10_002)))
    assert frame_numbers_parse("2,1,3") == [2, 1, 3]


def test_memory_budget_holds_at_most_its_capacity_across_threads() -> None:
    budget = MemoryBudget(100)
    with budget.hold(60):
        assert not budget.fits(50)
        with pytest.raises(BudgetSpent), budget.hold(50):
            pass
        waiting: list[bool] = []

        def wait_for_room() -> None:
            with budget.hold(50, wait=5):
                waiting.append(budget.held == 50)

        waiter = threading.Thread(target=wait_for_room)
        waiter.start()
    waiter.join(timeout=5)
    assert waiting == [True]
    assert budget.held == 0
    with budget.hold(500):  # above the capacity: runs alone rather than never
        assert budget.held == 100
    assert budget.fits(100)


# --- Through the test client: the budget answers 503, previews fail in words ------------------


@pytest.fixture
def carded(world: World) -> World:
    world.patient.health_card_number = CARD
    world.patient.save()
    return world


def _ingest(world: World, ds: Dataset) -> Instance:
    result = instance_ingest(
        data=dataset_bytes(ds),
        source=IngestSource.STOW,
        institution=world.township,
        user=world.clinic_doctor,
    )
    assert result.status is IngestStatus.STORED, result.message
    return Instance.objects.get(sop_instance_uid=result.sop_instance_uid)


def _url(instance: Instance, tail: str = "") -> str:
    return (
        f"/dicomweb/studies/{instance.study.study_instance_uid}"
        f"/series/{instance.series.series_instance_uid}"
        f"/instances/{instance.sop_instance_uid}{tail}"
    )


@pytest.mark.usefixtures("archive")
def test_decoding_while_the_budget_is_spent_answers_503_with_retry_after(
    carded: World, client: Client, settings: Any
) -> None:
    instance = _ingest(carded, _image(rows=256, columns=256))
    settings.IMAGING_DECODE_BUDGET_BYTES = 64 * MIB
    client.force_login(carded.clinic_doctor)
    with process_budget(64 * MIB).hold(64 * MIB):
        busy = client.get(_url(instance, "/rendered"))
        decoded = client.get(_url(instance, "/frames/1"))
    assert (busy.status_code, busy["Retry-After"]) == (503, "2")
    assert "decoding other images" in busy.json()["detail"]
    assert decoded.status_code == 503
    assert client.get(_url(instance, "/rendered")).status_code == 200


@pytest.mark.usefixtures("archive")
def test_bomb_is_stored_and_its_preview_fails_in_words(
    carded: World, caplog: pytest.LogCaptureFixture
) -> None:
    instance = _ingest(carded, _bomb())
    assert instance.size_bytes < 3 * MIB

    with caplog.at_level(logging.WARNING, logger="imaging.services.previews"):
        peak = _peak(lambda: series_previews_render(series_id=instance.series_id))

    assert Series.objects.get(pk=instance.series_id).preview_state == PreviewState.FAILED
    assert "MiB of memory" in caplog.text
    assert peak < 20 * MIB  # the file, never the 122 MiB frame or its gigabyte of rendering


# --- Through a real daphne: refusals, bounded memory, streaming -------------------------------


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = {"MEDIA_ROOT": str(tmp_path_factory.mktemp("archive"))}
    with daphne_server(log, env) as base:
        yield base


def _daphne_pid(base: str) -> int:
    """The daphne this test process started on the server's port."""
    port = base.rsplit(":", 1)[1]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and port.encode() in command:
            return int(stat.parent.name)
    raise LookupError(base)


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _peak_growth(base: str, action: Callable[[], object]) -> int:
    """How far daphne's resident memory peaked above where it stood, while `action` ran."""
    pid = _daphne_pid(base)
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the peak (VmHWM) to now
    before = _kib(pid, "VmRSS")
    action()
    return (_kib(pid, "VmHWM") - before) * 1024


def _headers(user: User, accept: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {api_token_create(user=user, name='test')[1]}"}
    if accept is not None:
        headers["Accept"] = accept
    return headers


def _stow(base: str, user: User, ds: Dataset) -> requests.Response:
    boundary = "bombs-boundary"
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + dataset_bytes(ds)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return requests.post(
        f"{base}/dicomweb/studies",
        data=body,
        headers={
            **_headers(user),
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        },
        timeout=60,
    )


def _at(base: str, ds: Dataset, tail: str = "") -> str:
    return (
        f"{base}/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}{tail}"
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_daphne_stores_a_bomb_serves_it_as_stored_and_refuses_to_decode_it(
    server: str, carded: World
) -> None:
    bomb = _bomb()
    assert _stow(server, carded.clinic_doctor, bomb).status_code == 200
    doctor = carded.clinic_doctor
    answers: dict[str, requests.Response] = {}

    def ask() -> None:
        for name, tail, accept in [
            ("rendered", "/rendered", None),
            ("thumbnail", "/thumbnail", None),
            ("decoded", "/frames/1", 'multipart/related; type="application/octet-stream"'),
            ("retrieve", "", None),
        ]:
            answers[name] = requests.get(
                _at(server, bomb, tail), headers=_headers(doctor, accept), timeout=60
            )
        answers["series"] = requests.get(
            f"{server}/dicomweb/studies/{bomb.StudyInstanceUID}/series/"
            f"{bomb.SeriesInstanceUID}/rendered",
            headers=_headers(doctor),
            timeout=60,
        )

    growth = _peak_growth(server, ask)

    for name, response in answers.items():
        assert response.status_code == 413, (name, response.text)
        assert "too large to decode here" in response.json()["detail"], name
    assert growth < GROWTH_BOUND, f"daphne grew {growth // MIB} MiB"
    as_stored = requests.get(
        _at(server, bomb, "/frames/1"),
        headers=_headers(doctor, 'multipart/related; type="image/dicom-rle"'),
        timeout=60,
    )
    assert as_stored.status_code == 200
    assert _rle_zeros(8000, 8000) in as_stored.content
    whole = requests.get(
        _at(server, bomb),
        headers=_headers(doctor, 'multipart/related; type="application/dicom"; transfer-syntax=*'),
        timeout=60,
    )
    assert whole.status_code == 200
    assert dataset_bytes(bomb) in whole.content


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_daphne_refuses_repeated_frames_and_streams_a_long_frame_list(
    server: str, carded: World
) -> None:
    frames = 100  # 2 MiB each decoded: 200 MiB of response from a 3 MiB file
    clip = _image(rows=1024, columns=1024, frames=frames)
    assert _stow(server, carded.clinic_doctor, clip).status_code == 200
    octets = 'multipart/related; type="application/octet-stream"'
    headers = _headers(carded.clinic_doctor, octets)

    repeated = requests.get(
        _at(server, clip, "/frames/" + ",".join(["1"] * 1000)), headers=headers, timeout=60
    )
    assert repeated.status_code == 400
    assert "more than once" in repeated.json()["detail"]

    received: list[int] = []

    def read_all() -> None:
        url = _at(server, clip, "/frames/" + ",".join(str(n) for n in range(frames, 0, -1)))
        with requests.get(url, headers=headers, timeout=120, stream=True) as response:
            assert response.status_code == 200
            assert "Content-Length" not in response.headers  # streamed, not built whole
            received.append(sum(len(chunk) for chunk in response.iter_content(1024 * 1024)))

    growth = _peak_growth(server, read_all)

    total = frames * 1024 * 1024 * 2
    assert received[0] > total
    # Built whole, the response was in memory three times over (the parts, joined, the body);
    # streamed, daphne holds at most what the client has not read yet.
    assert growth < 1.5 * total, f"daphne grew {growth // MIB} MiB"


@pytest.fixture(scope="module")
def scp(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scp]:
    with scp_with_archive(tmp_path_factory) as running:
        yield running


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_c_store_accepts_a_bomb_as_stow_does(scp: Scp, carded: World, tmp_path: Path) -> None:
    CallingAETitle.objects.create(
        ae_title="BOMB_CT", institution=carded.township, description="test"
    )
    path = tmp_path / "bomb.dcm"
    bomb = _bomb()
    path.write_bytes(dataset_bytes(bomb))
    sent = subprocess.run(
        [
            dcmtk_tool("dcmsend"),
            "-aet",
            "BOMB_CT",
            "-aec",
            SCP_AE_TITLE,
            "127.0.0.1",
            str(scp.port),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    instance = Instance.objects.get(sop_instance_uid=bomb.SOPInstanceUID)
    assert instance.source == IngestSource.DIMSE
    assert (scp.archive / instance.storage_name).stat().st_size < 3 * MIB


def test_pydicom_reads_what_the_bomb_builder_writes() -> None:
    ds = pydicom.dcmread(io.BytesIO(dataset_bytes(_image(rows=16, columns=128))))
    assert (ds.Rows, ds.Columns, str(ds.file_meta.TransferSyntaxUID)) == (16, 128, RLELossless)
