"""Series previews rendered at ingest: claims, content keys, decoders, and a real Celery worker."""

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from PIL import Image

from imaging.models import IngestSource, PreviewState, Series
from imaging.services import IngestStatus, instance_ingest, series_previews_render
from imaging.tasks import series_previews_render_task
from server.celery import app as celery_app
from tests.conftest import World
from tests.imaging.conftest import for_patient
from tests.integration.test_celery_worker import WorkerFactory, wait_for

pytestmark = pytest.mark.usefixtures("archive")
CARD = "HC-0077"
CaptureCallbacks = Callable[..., AbstractContextManager[list[Callable[[], object]]]]


@pytest.fixture
def carded(world: World) -> World:
    world.patient.health_card_number = CARD
    world.patient.save()
    return world


def _store(world: World, name: str, **changes: str) -> Series:
    result = instance_ingest(
        data=for_patient(name, world.patient, **changes),
        source=IngestSource.STOW,
        institution=world.township,
        user=world.clinic_doctor,
    )
    assert result.status is IngestStatus.STORED, result.message
    return Series.objects.get(series_instance_uid=result.series_instance_uid)


def _image(root: Path, name: str) -> Image.Image:
    return Image.open(io.BytesIO((root / name).read_bytes()))


def test_ingest_queues_one_preview_rendering_per_series(
    carded: World, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        series = _store(carded, "CT_small.dcm")
        _store(carded, "CT_small.dcm", SOPInstanceUID="1.2.826.0.1.3680043.8.498.1")
    assert len(callbacks) == 1
    series.refresh_from_db()
    assert series.preview_state == PreviewState.PENDING


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
        "US1_J2KR.dcm",  # JPEG 2000 colour
        "emri_small_RLE.dcm",  # multi-frame RLE
        "color3d_jpeg_baseline.dcm",  # the 120-frame ultrasound
    ],
)
def test_series_previews_render_writes_thumbnail_and_preview(
    carded: World, archive: Path, name: str
) -> None:
    series = _store(carded, name)

    assert series_previews_render(series_id=series.pk) is PreviewState.READY

    series.refresh_from_db()
    assert (series.preview_state, series.preview_claimed_at) == (PreviewState.READY, None)
    thumbnail, preview = (
        _image(archive, series.thumbnail_name),
        _image(archive, series.preview_name),
    )
    assert thumbnail.format == preview.format == "JPEG"
    assert max(thumbnail.size) == 128
    assert max(preview.size) == 512


def test_series_previews_render_twice_changes_nothing(carded: World, archive: Path) -> None:
    series = _store(carded, "MR_small_RLE.dcm")
    series_previews_render(series_id=series.pk)
    series.refresh_from_db()
    files = sorted(p.relative_to(archive) for p in archive.rglob("*.jpeg"))

    assert series_previews_render(series_id=series.pk) is None

    assert sorted(p.relative_to(archive) for p in archive.rglob("*.jpeg")) == files
    assert len(files) == 2
    assert all(str(f) in (series.thumbnail_name, series.preview_name) for f in files)


def test_live_claim_is_left_alone_and_stale_claim_is_taken_over(carded: World) -> None:
    series = _store(carded, "CT_small.dcm")
    fresh = timezone.now()
    Series.objects.filter(pk=series.pk).update(
        preview_state=PreviewState.RENDERING, preview_claimed_at=fresh
    )
    assert series_previews_render(series_id=series.pk) is None

    lease = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 1)
    Series.objects.filter(pk=series.pk).update(preview_claimed_at=fresh - lease)
    assert series_previews_render(series_id=series.pk) is PreviewState.READY


def test_undecodable_series_is_marked_failed(carded: World) -> None:
    # 12-bit JPEG Extended: none of the installed plugins decode it.
    series = _store(carded, "JPGExtended.dcm")
    assert series_previews_render(series_id=series.pk) is PreviewState.FAILED
    series.refresh_from_db()
    assert (series.preview_state, series.thumbnail_name) == (PreviewState.FAILED, "")


@pytest.fixture
def eager_celery() -> Iterator[None]:
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


def _thumbnail(world: World, series: Series, client: Client) -> bytes:
    client.force_login(world.clinic_doctor)
    study_uid = series.study.study_instance_uid
    response = client.get(
        f"/dicomweb/studies/{study_uid}/series/{series.series_instance_uid}/thumbnail"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    return bytes(response.content)


def test_thumbnail_is_ready_when_the_ingest_commits(
    carded: World,
    archive: Path,
    client: Client,
    eager_celery: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        series = _store(carded, "MR_small.dcm")
    series.refresh_from_db()
    assert series.preview_state == PreviewState.READY
    assert _thumbnail(carded, series, client) == (archive / series.thumbnail_name).read_bytes()


@pytest.fixture
def preview_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, archive: Path
) -> Iterator[WorkerFactory]:
    """A worker on a queue of this test's own, sharing the test's archive and database."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    factory = WorkerFactory(queue=f"test-previews-{tmp_path.name}", log_dir=tmp_path)
    monkeypatch.setenv("MEDIA_ROOT", str(archive))
    # Route the task the ingest service queues to this worker, not to the shared queue.
    monkeypatch.setattr(series_previews_render_task, "queue", factory.queue, raising=False)
    monkeypatch.setattr(series_previews_render_task, "_exec_options", None)
    yield factory
    monkeypatch.undo()
    celery_app.conf.task_always_eager = eager
    for worker in factory.started:
        if worker.process.poll() is None:
            worker.kill()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_preview_is_rendered_by_a_real_celery_worker(
    carded: World, archive: Path, client: Client, preview_worker: WorkerFactory
) -> None:
    worker = preview_worker()
    series = _store(carded, "emri_small_jpeg_2k_lossless.dcm")

    def ready() -> bool:
        series.refresh_from_db()
        return series.preview_state == PreviewState.READY

    wait_for(ready, "the worker to render the series preview", worker)
    assert (archive / series.preview_name).is_file()
    assert _thumbnail(carded, series, client) == (archive / series.thumbnail_name).read_bytes()
    worker.stop()
