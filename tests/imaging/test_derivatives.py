"""Diagnostic-quality lossy frames of large radiographs: made after ingest, sent only on request."""

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test import Client
from openjpeg.utils import decode, get_parameters
from playwright.sync_api import expect, sync_playwright

from imaging.lossy import JPEG2000_LOSSY, lossy_worthwhile
from imaging.models import IngestSource, Instance
from imaging.multipart import media_type_parse, multipart_parse
from imaging.services import (
    IngestStatus,
    instance_ingest,
    instance_lossy_frame_render,
    lossy_frame_storage_name,
    series_lossy_frames_request,
    series_previews_render,
)
from server.accounts.models import User
from server.audit.models import AuditEvent, AuditOutcome
from server.celery import app as celery_app
from tests.conftest import World
from tests.factories import PASSWORD
from tests.imaging.conftest import dicom_dataset, for_patient
from tests.lib.browser import CHROMIUM, CHROMIUM_ARGS, screenshots_if_failed, watch_csp
from tests.lib.daphne import daphne_server
from tests.web.conftest import built_assets  # noqa: F401 - fixture, used by name

pytestmark = pytest.mark.usefixtures("archive")
CARD = "HC-0066"
CHEST_CR = "RG1_UNCR.dcm"  # 1955 x 1841, 15 bits stored, MONOCHROME1, uncompressed: 7.2 MB
LOSSY_OCTETS = (
    f'multipart/related; type="application/octet-stream"; transfer-syntax={JPEG2000_LOSSY}'
)
LOSSY_JP2 = f'multipart/related; type="image/jp2"; transfer-syntax={JPEG2000_LOSSY}'
ANY_AS_STORED = 'multipart/related; type="*/*"; transfer-syntax=*'
CaptureCallbacks = Callable[..., AbstractContextManager[list[Callable[[], object]]]]


@pytest.fixture
def carded(world: World) -> World:
    world.patient.health_card_number = CARD
    world.patient.save()
    return world


@pytest.fixture
def eager_celery() -> Iterator[None]:
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


def _store(world: World, name: str) -> Instance:
    result = instance_ingest(
        data=for_patient(name, world.patient),
        source=IngestSource.STOW,
        institution=world.township,
        user=world.clinic_doctor,
    )
    assert result.status is IngestStatus.STORED, result.message
    return Instance.objects.get(sop_instance_uid=result.sop_instance_uid)


def _frame_url(instance: Instance) -> str:
    return (
        f"/dicomweb/studies/{instance.study.study_instance_uid}"
        f"/series/{instance.series.series_instance_uid}"
        f"/instances/{instance.sop_instance_uid}/frames/1"
    )


def _frame(client: Client, user: User, instance: Instance, accept: str) -> tuple[int, str, bytes]:
    """Status, the one part's content type and its body (or the error body)."""
    client.force_login(user)
    response = client.get(_frame_url(instance), HTTP_ACCEPT=accept)
    if response.status_code != 200:
        return response.status_code, "", bytes(response.content)
    boundary = media_type_parse(response["Content-Type"]).params["boundary"]
    (part,) = multipart_parse(bytes(response.content), boundary)
    return 200, part.content_type, part.body


def _decoded_error(codestream: bytes) -> tuple[np.ndarray[Any, Any], float, int]:
    """The decoded frame, its RMSE and largest error against the original pixels."""
    original = dicom_dataset(CHEST_CR).pixel_array.astype(np.int64)
    decoded = decode(codestream)
    difference = decoded.astype(np.int64) - original
    return decoded, float(np.sqrt(np.mean(difference**2))), int(np.abs(difference).max())


def test_ingest_makes_a_full_depth_lossy_frame_of_a_large_radiograph(
    carded: World,
    archive: Path,
    eager_celery: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        instance = _store(carded, CHEST_CR)

    instance.refresh_from_db()
    assert instance.lossy_frame_ratio == 10
    assert instance.lossy_frame_name == lossy_frame_storage_name(
        instance_sha256=instance.sha256, ratio=10
    )
    codestream = (archive / instance.lossy_frame_name).read_bytes()
    # About a tenth of the 7.2 MB of pixels: 675 kB when measured, 18 s at 300 kbit/s.
    assert 500_000 < len(codestream) < 1955 * 1841 * 2 // 9
    assert get_parameters(codestream)["precision"] == 15
    decoded, rmse, worst = _decoded_error(codestream)
    assert (decoded.shape, decoded.dtype) == ((1955, 1841), np.uint16)
    # On a range of 25,600 stored values: RMSE 63 and a worst pixel of 405 when measured.
    assert rmse < 100
    assert worst < 1000


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",  # 128 x 128: small
        "color3d_jpeg_baseline.dcm",  # 120-frame ultrasound: multi-frame and stored lossy
        "SC_rgb_jpeg_dcmtk.dcm",  # colour
    ],
)
def test_small_multi_frame_and_colour_images_get_no_lossy_frame(
    carded: World, archive: Path, name: str
) -> None:
    instance = _store(carded, name)

    assert series_lossy_frames_request(series_id=instance.series_id) == []
    assert instance_lossy_frame_render(instance_id=instance.pk) is None

    instance.refresh_from_db()
    assert (instance.lossy_frame_name, instance.lossy_frame_ratio) == ("", 0)
    assert not (archive / "derivatives").exists()


@pytest.mark.parametrize(
    ("changes", "worthwhile"),
    [
        ({}, True),
        ({"transfer_syntax": "1.2.840.10008.1.2.4.90"}, True),  # JPEG 2000 lossless
        ({"transfer_syntax": JPEG2000_LOSSY}, False),  # a second loss would compound
        ({"transfer_syntax": "1.2.840.10008.1.2.4.50"}, False),
        ({"stored_bytes": 1024 * 1024}, False),
        ({"number_of_frames": 2}, False),
        ({"photometric": "RGB", "samples": 3}, False),
        ({"photometric": "PALETTE COLOR"}, False),
    ],
)
def test_lossy_worthwhile_only_for_one_large_greyscale_frame_stored_lossless(
    changes: dict[str, Any], worthwhile: bool
) -> None:
    facts: dict[str, Any] = {
        "photometric": "MONOCHROME1",
        "samples": 1,
        "number_of_frames": 1,
        "transfer_syntax": "1.2.840.10008.1.2.1",
        "stored_bytes": 7_200_000,
    } | changes
    metadata = json.dumps(
        {
            "00280002": {"vr": "US", "Value": [facts["samples"]]},
            "00280004": {"vr": "CS", "Value": [facts["photometric"]]},
        }
    )
    assert (
        lossy_worthwhile(
            metadata=metadata,
            number_of_frames=facts["number_of_frames"],
            transfer_syntax=facts["transfer_syntax"],
            stored_bytes=facts["stored_bytes"],
        )
        is worthwhile
    )


def test_lossy_frame_render_twice_changes_nothing(carded: World, archive: Path) -> None:
    instance = _store(carded, CHEST_CR)
    assert series_lossy_frames_request(series_id=instance.series_id) == [instance.pk]
    name = instance_lossy_frame_render(instance_id=instance.pk)
    assert name is not None
    first = (archive / name).read_bytes()

    assert instance_lossy_frame_render(instance_id=instance.pk) is None
    assert series_lossy_frames_request(series_id=instance.series_id) == []
    # A worker that died after writing the file but before recording it: same key, same bytes.
    Instance.objects.filter(pk=instance.pk).update(lossy_frame_name="", lossy_frame_ratio=0)
    assert instance_lossy_frame_render(instance_id=instance.pk) == name

    assert [p.relative_to(archive) for p in (archive / "derivatives").rglob("*.j2k")] == [
        Path(name)
    ]
    assert (archive / name).read_bytes() == first


@pytest.fixture
def radiograph(carded: World) -> Instance:
    instance = _store(carded, CHEST_CR)
    instance_lossy_frame_render(instance_id=instance.pk)
    instance.refresh_from_db()
    return instance


@pytest.mark.parametrize(
    ("accept", "part_type"), [(LOSSY_OCTETS, "application/octet-stream"), (LOSSY_JP2, "image/jp2")]
)
def test_frames_send_the_lossy_frame_when_its_syntax_is_named(
    carded: World, archive: Path, client: Client, radiograph: Instance, accept: str, part_type: str
) -> None:
    status, content_type, body = _frame(
        client, carded.clinic_doctor, radiograph, f"{accept}, {ANY_AS_STORED}"
    )

    assert status == 200
    assert content_type == f"{part_type}; transfer-syntax={JPEG2000_LOSSY}"
    assert body == (archive / radiograph.lossy_frame_name).read_bytes()


@pytest.mark.parametrize(
    "accept",
    [
        "",
        ANY_AS_STORED,
        'multipart/related; type="application/octet-stream"; transfer-syntax=*',
        f"{LOSSY_OCTETS}; q=0, {ANY_AS_STORED}",
    ],
)
def test_frames_stay_lossless_unless_the_lossy_syntax_is_named(
    carded: World, client: Client, radiograph: Instance, accept: str
) -> None:
    status, content_type, body = _frame(client, carded.clinic_doctor, radiograph, accept)

    assert status == 200
    assert content_type == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    assert body == dicom_dataset(CHEST_CR).PixelData


def test_jpeg_2000_without_a_syntax_means_lossless_and_is_refused_for_an_uncompressed_file(
    carded: World, client: Client, radiograph: Instance
) -> None:
    status, _, _ = _frame(
        client, carded.clinic_doctor, radiograph, 'multipart/related; type="image/jp2"'
    )
    assert status == 406


def test_lossy_frame_is_encoded_on_request_before_the_worker_made_it(
    carded: World, client: Client
) -> None:
    instance = _store(carded, CHEST_CR)

    status, content_type, body = _frame(client, carded.clinic_doctor, instance, LOSSY_OCTETS)

    assert (status, content_type) == (
        200,
        f"application/octet-stream; transfer-syntax={JPEG2000_LOSSY}",
    )
    _, rmse, _ = _decoded_error(body)
    assert rmse < 100
    instance.refresh_from_db()
    assert instance.lossy_frame_name == ""  # reads write nothing; the worker records it


def test_small_image_asked_only_for_the_lossy_syntax_gets_406(
    carded: World, client: Client
) -> None:
    instance = _store(carded, "CT_small.dcm")

    assert _frame(client, carded.clinic_doctor, instance, LOSSY_OCTETS)[0] == 406
    status, content_type, _ = _frame(
        client, carded.clinic_doctor, instance, f"{LOSSY_OCTETS}, {ANY_AS_STORED}"
    )
    assert (status, content_type) == (
        200,
        "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1",
    )


def test_ratio_zero_sends_no_lossy_frame(
    carded: World, client: Client, radiograph: Instance, settings: Any
) -> None:
    settings.IMAGING_LOSSY_RATIO = 0

    assert _frame(client, carded.clinic_doctor, radiograph, LOSSY_OCTETS)[0] == 406
    assert instance_lossy_frame_render(instance_id=radiograph.pk) is None


def test_lossy_frame_is_404_for_an_unrelated_township_and_reads_are_audited(
    carded: World, client: Client, radiograph: Instance
) -> None:
    stranger = _frame(client, carded.other_clinic_doctor, radiograph, LOSSY_OCTETS)
    doctor = _frame(client, carded.clinic_doctor, radiograph, LOSSY_OCTETS)

    assert (stranger[0], doctor[0]) == (404, 200)
    assert stranger[2] != doctor[2]
    events = AuditEvent.objects.filter(event="imaging.study.read")
    assert events.filter(
        actor_id=carded.other_clinic_doctor.pk, outcome=AuditOutcome.DENIED
    ).exists()
    assert events.filter(actor_id=carded.clinic_doctor.pk, outcome=AuditOutcome.SUCCESS).exists()


@pytest.fixture(scope="module")
def viewer_server(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A daphne server and the archive directory it shares with the test."""
    root = tmp_path_factory.mktemp("archive")
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with daphne_server(log, {"MEDIA_ROOT": str(root)}) as url:
        yield url, root


@pytest.mark.browser
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("built_assets")
@pytest.mark.parametrize(
    ("bytes_per_second", "badge", "lossy"),
    [(200_000, "诊断 · 有损压缩 10:1", "true"), (None, "诊断", "false")],
    ids=["slow link", "fast link"],
)
def test_viewer_asks_for_the_lossy_copy_only_on_a_slow_link_and_labels_it(
    carded: World,
    settings: Any,
    viewer_server: tuple[str, Path],
    request: pytest.FixtureRequest,
    bytes_per_second: int | None,
    badge: str,
    lossy: str,
) -> None:
    url, root = viewer_server
    settings.MEDIA_ROOT = root
    instance = _store(carded, CHEST_CR)
    series_previews_render(series_id=instance.series_id)
    instance_lossy_frame_render(instance_id=instance.pk)
    viewer_path = f"/imaging/studies/{instance.study.study_instance_uid}/view/"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", base_url=url)
        refused = watch_csp(context)
        page = context.new_page()
        with screenshots_if_failed(request, lambda: [page]):
            page.goto("/")
            page.locator("#id_username").fill("clinic")
            page.locator("#id_password").fill(PASSWORD)
            page.locator("form.form button[type=submit]").click()
            expect(page.locator("#id_username")).to_have_count(0)
            if bytes_per_second is not None:
                cdp = page.context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send(
                    "Network.emulateNetworkConditions",
                    {
                        "offline": False,
                        "latency": 50,
                        "downloadThroughput": bytes_per_second,
                        "uploadThroughput": bytes_per_second,
                    },
                )
            with page.expect_request("**/frames/1") as frame_request:
                page.goto(viewer_path)
            viewer = page.locator("#viewer")
            expect(viewer).to_have_attribute("data-quality", "diagnostic", timeout=30_000)
            expect(viewer.locator(".viewer-quality")).to_have_text(badge)
            expect(viewer).to_have_attribute("data-lossy", lossy)
            accept = frame_request.value.headers["accept"]
            assert (JPEG2000_LOSSY in accept) is (bytes_per_second is not None), accept
            load_lossless = viewer.locator("[data-action=lossless]")
            if bytes_per_second is None:
                expect(load_lossless).to_be_hidden()
            else:
                # The user asks for the original: the frame comes again as stored (the link
                # made fast first, so the 7.2 MB do not take half a minute).
                cdp.send(
                    "Network.emulateNetworkConditions",
                    {
                        "offline": False,
                        "latency": 0,
                        "downloadThroughput": -1,
                        "uploadThroughput": -1,
                    },
                )
                with page.expect_request("**/frames/1") as again:
                    load_lossless.click()
                expect(viewer).to_have_attribute("data-lossy", "false", timeout=60_000)
                expect(viewer.locator(".viewer-quality")).to_have_text("诊断")
                expect(load_lossless).to_be_hidden()
                assert JPEG2000_LOSSY not in again.value.headers["accept"]
        browser.close()
    assert refused == [], refused
