"""Redis down after a commit: the request that committed succeeds, fast, and what it could not
enqueue goes out on the outbox sweep once Redis is back.

A real daphne process whose broker and channel layer point at a closed port serves the requests;
this process, on the real Redis, plays the sweep after Redis came back.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings

from consult.models import MessageState, OutboundMessage, Status, Urgency
from imaging.models import PreviewState, Series, Study
from server.accounts.models import User
from server.accounts.services import api_token_create
from server.outbox.models import PendingTask
from server.outbox.services import pending_tasks_send
from tests.conftest import World
from tests.consult.conftest import make_consult
from tests.imaging.conftest import with_patient_id
from tests.lib.broker import queued_args, refusing_redis_url
from tests.lib.daphne import daphne_server
from tests.lib.processes import database_url_of_test_run

# Committed data is what the daphne process sees, so these tests commit for real.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# A deadline, not a benchmark: with Redis down a STOW answered 500 after 19 s (the result
# backend's reconnection loop) and the broker alone took 6 s to give up.
ANSWER_SECONDS = 5
STOW_TYPE = 'multipart/related; type="application/dicom"; boundary=b0undary'


@pytest.fixture(scope="module")
def live_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("archive")


@pytest.fixture(scope="module")
def server_without_redis(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory, live_archive: Path
) -> Iterator[str]:
    """Daphne whose Celery broker, result backend and channel layer are a port nobody serves."""
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = {"MEDIA_ROOT": str(live_archive), "REDIS_URL": refusing_redis_url()}
    with daphne_server(log, env) as base:
        yield base


def _sweep_while_redis_is_down() -> int:
    """Run the sweep in a process of its own whose broker still refuses; returns rows sent."""
    code = (
        "from datetime import timedelta\n"
        "from server.outbox.services import pending_tasks_send\n"
        "print(pending_tasks_send(older_than=timedelta(0)))"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "server.test_settings",
        "DATABASE_URL": database_url_of_test_run(),
        "REDIS_URL": refusing_redis_url(),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=settings.BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout.split()[-1])


def _auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token_create(user=user, name='test')[1]}"}


def test_stow_with_redis_down_answers_success_and_the_sweep_queues_the_preview(
    server_without_redis: str, world: World
) -> None:
    body = (
        b"--b0undary\r\nContent-Type: application/dicom\r\n\r\n"
        + with_patient_id("CT_small.dcm", "HC-0042")
        + b"\r\n--b0undary--\r\n"
    )
    response = requests.post(
        f"{server_without_redis}/dicomweb/studies",
        data=body,
        headers={"Content-Type": STOW_TYPE, **_auth(world.clinic_doctor)},
        timeout=ANSWER_SECONDS,
    )

    assert response.status_code == 200, response.text
    assert Study.objects.count() == 1
    series = Series.objects.get()
    assert series.preview_state == PreviewState.PENDING
    task = "imaging.tasks.series_previews_render_task"
    assert list(PendingTask.objects.values_list("task", "args")) == [(task, [series.pk])]

    # Redis still down: the sweep sends nothing and keeps the row.
    assert _sweep_while_redis_is_down() == 0
    assert PendingTask.objects.count() == 1

    # Redis is back: the sweep hands the preview to the broker and forgets the row.
    assert pending_tasks_send(older_than=timedelta(0)) == 1
    assert [series.pk] in queued_args(task)
    assert not PendingTask.objects.exists()


def test_consult_submit_with_redis_down_answers_success_and_the_sweep_queues_the_text(
    server_without_redis: str, world: World
) -> None:
    consult = make_consult(world, urgency=Urgency.CRITICAL)

    response = requests.post(
        f"{server_without_redis}/api/v1/consults/{consult.pk}/transitions/",
        json={"action": "submit"},
        headers=_auth(world.clinic_doctor),
        timeout=ANSWER_SECONDS,
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == Status.ASSIGNED
    consult.refresh_from_db()
    assert consult.status == Status.ASSIGNED
    message = OutboundMessage.objects.get(consult=consult)
    assert message.state == MessageState.PENDING
    task = "consult.tasks.consult_message_send_task"
    assert list(PendingTask.objects.values_list("task", "args")) == [(task, [message.pk])]

    assert pending_tasks_send(older_than=timedelta(0)) == 1
    assert [message.pk] in queued_args(task)
    assert not PendingTask.objects.exists()
