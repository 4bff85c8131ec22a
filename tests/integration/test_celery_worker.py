"""Tasks go through a real Celery worker process on the Redis broker, as in production."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

from server.audit.tasks import audit_verify_task
from server.celery import app as celery_app
from tests.integration.celery_probe import celery_probe_task, probe_key, probe_redis
from tests.lib.processes import database_url_of_test_run

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
# Short, so a task whose worker was killed comes back within seconds; the time limits must stay
# below it (settings refuse anything else).
VISIBILITY_TIMEOUT_SECONDS = 6
WAIT_SECONDS = 30


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """Kill the worker and its pool children at once, as a lost machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=WAIT_SECONDS)

    def stop(self) -> None:
        """Warm shutdown: finish running tasks, give back the ones not started."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            raise


@dataclass
class WorkerFactory:
    queue: str
    log_dir: Path
    started: list[Worker] = field(default_factory=list)

    def __call__(self) -> Worker:
        log_path = self.log_dir / f"worker-{len(self.started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "celery", "-A", "server", "worker", "--pool=prefork"),
                    *("--concurrency=1", "-l", "info", "-Q", self.queue),
                    *("-n", f"{self.queue}-{len(self.started)}@%h"),
                    *("--include", "tests.integration.celery_probe"),
                    # No other workers to talk to: skip the handshakes that slow startup.
                    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                ],
                cwd=REPO_ROOT,
                env=_worker_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process=process, log_path=log_path)
        self.started.append(worker)
        return worker


def _worker_env() -> dict[str, str]:
    assert settings.REDIS_URL is not None
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.test_settings",
        # The test database pytest created, not the one DATABASE_URL names.
        "DATABASE_URL": database_url_of_test_run(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_SECONDS),
        "CELERY_TASK_TIME_LIMIT": str(VISIBILITY_TIMEOUT_SECONDS - 1),
        "CELERY_TASK_SOFT_TIME_LIMIT": str(VISIBILITY_TIMEOUT_SECONDS - 2),
    }


def wait_for(condition: Callable[[], bool], what: str, worker: Worker | None = None) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            log = f"\nworker log:\n{worker.log_tail()}" if worker else ""
            pytest.fail(f"timed out after {WAIT_SECONDS} s waiting for {what}{log}")
        time.sleep(0.05)


@pytest.fixture
def celery_on_redis() -> Iterator[None]:
    """This process publishes to the workers' broker, even if another fixture made Celery eager."""
    assert settings.REDIS_URL is not None
    assert celery_app.conf.broker_url == settings.REDIS_URL
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = eager


@pytest.fixture
def start_worker(celery_on_redis: None, db: None, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start workers on a queue of this test's own, so they run only what it sends."""
    factory = WorkerFactory(queue=f"test-{uuid.uuid4().hex}", log_dir=tmp_path)
    yield factory
    for worker in factory.started:
        if worker.process.poll() is None:
            worker.kill()
        # pytest shows this only when the test failed.
        sys.stderr.write(f"--- {worker.log_path.name}\n{worker.log_tail()}\n")
    probe_redis().delete(factory.queue, f"_kombu.binding.{factory.queue}")


@pytest.fixture
def run_id() -> Iterator[str]:
    """Names one probe run's counters in Redis."""
    run_id = uuid.uuid4().hex
    yield run_id
    probe_redis().delete(*(probe_key(run_id, name) for name in ("started", "finished", "go")))


def _count(run_id: str, name: str) -> int:
    return int(probe_redis().get(probe_key(run_id, name)) or 0)


def test_worker_runs_project_task_and_returns_its_result(start_worker: WorkerFactory) -> None:
    worker = start_worker()

    result = audit_verify_task.apply_async(queue=start_worker.queue)

    assert result.get(timeout=WAIT_SECONDS) == 0
    worker.stop()


def test_task_of_killed_worker_is_finished_exactly_once_by_next_worker(
    start_worker: WorkerFactory, run_id: str
) -> None:
    first = start_worker()
    result = celery_probe_task.apply_async(args=(run_id,), queue=start_worker.queue)
    wait_for(lambda: _count(run_id, "started") == 1, "the first worker to start the task", first)

    first.kill()
    second = start_worker()
    wait_for(lambda: _count(run_id, "started") == 2, "the task to be redelivered", second)
    probe_redis().rpush(probe_key(run_id, "go"), 1)

    assert result.get(timeout=WAIT_SECONDS) == run_id
    second.stop()
    assert (_count(run_id, "started"), _count(run_id, "finished")) == (2, 1)
    assert probe_redis().llen(start_worker.queue) == 0
