"""A newcomer's path: `make run` on an empty database and a fresh var/, then the product in use.

The test runs the Makefile itself, as the README tells a newcomer to, so the install, build,
migrate, seed and process start-up steps are the ones a new machine runs. It then signs in,
stores and reads back an image through DICOMweb and through C-STORE, opens a consult, and
stops everything with the Ctrl-C a person would press.
"""

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from celery import Celery
from dicomweb_client.api import DICOMwebClient
from django.conf import settings
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from imaging.demo import DEMO_AE_TITLE
from server.directory.demo import DEMO_PASSWORD
from tests.imaging.conftest import dicom_file
from tests.lib.dicom_scp import dcmtk_tool
from tests.lib.processes import free_port

pytestmark = pytest.mark.integration

# Install stamps exist once `make test` has run, but migrating an empty database and seeding the
# demo take a while on a busy two-core machine.
START_SECONDS = 420
STOP_SECONDS = 30
# A Redis database of its own, so the product's worker never meets the test run's tasks.
NEWCOMER_REDIS_URL = "redis://127.0.0.1:6379/13"
# What pytest put into this process's environment for the test run, which a newcomer's shell
# does not have.
TEST_RUN_VARIABLES = {
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "CHANNEL_LAYER_PREFIX",
    "TEST_DATABASE_NAME",
    "DEBUG",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
}


def _maintenance_connection() -> psycopg.Connection[tuple[object, ...]]:
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=str(db["HOST"]),
        port=str(db["PORT"]),
        user=str(db["USER"]),
        password=str(db["PASSWORD"] or ""),
        dbname="postgres",
        autocommit=True,
    )


def _drop_database(name: str) -> None:
    with _maintenance_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_for(what: str, check: Callable[[], bool], seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {seconds} s; make run said:\n{_tail(log)}")
        time.sleep(0.5)


def _tail(log: Path, lines: int = 80) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _processes_of(marker: str) -> list[int]:
    """Processes whose environment carries `marker` (the run's own var/ directory)."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@dataclass
class Product:
    base_url: str
    dicom_port: int
    var_dir: Path
    log: Path
    process: subprocess.Popen[bytes]


@pytest.fixture
def product(tmp_path: Path) -> Iterator[Product]:
    """`make run` on a database that does not exist yet and a var/ that does not exist yet."""
    make = shutil.which("make")
    if make is None:
        pytest.fail("GNU make is missing: the newcomer's path starts with `make run`")
    database = f"yunzhen_newcomer_{uuid.uuid4().hex[:8]}"
    _drop_database(database)
    broker = redis.Redis.from_url(NEWCOMER_REDIS_URL)
    broker.flushdb()
    port, dicom_port = free_port(), free_port()
    var_dir = tmp_path / "var"
    log = tmp_path / "make-run.log"
    env = {k: v for k, v in os.environ.items() if k not in TEST_RUN_VARIABLES}
    env.update(
        YUNZHEN_VAR_DIR=str(var_dir),
        DICOM_SCP_PORT=str(dicom_port),
        REDIS_URL=NEWCOMER_REDIS_URL,
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [make, "run", f"DB_NAME={database}", f"PORT={port}"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # A terminal of its own: the test presses Ctrl-C on this group, as a person would.
            start_new_session=True,
        )
    product = Product(f"http://127.0.0.1:{port}", dicom_port, var_dir, log, process)
    try:
        yield product
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in _processes_of(str(var_dir)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _drop_database(database)
        broker.flushdb()


def _ready(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _worker_answers() -> bool:
    app = Celery(broker=NEWCOMER_REDIS_URL)
    try:
        return bool(app.control.ping(timeout=1))
    finally:
        app.close()


def _signed_in(base_url: str, username: str) -> requests.Session:
    session = requests.Session()
    login = f"{base_url}/accounts/login/"
    session.get(login, timeout=10).raise_for_status()
    response = session.post(
        login,
        data={
            "username": username,
            "password": DEMO_PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text[:500]
    assert "sessionid" in session.cookies, "the demo login did not sign in"
    session.headers["X-CSRFToken"] = str(session.cookies["csrftoken"])
    return session


def _new_instance(patient_id: str) -> Dataset:
    dataset = dcmread(io.BytesIO(dicom_file("CT_small.dcm")))
    dataset.PatientID = patient_id
    dataset.PatientName = "Newcomer^Test"
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    return dataset


def test_make_run_serves_the_demo_from_nothing_and_ctrl_c_stops_everything(
    product: Product, tmp_path: Path
) -> None:
    _wait_for("/readyz", lambda: _ready(product.base_url), START_SECONDS, product.log)
    _wait_for("the DICOM SCP", lambda: _answers(product.dicom_port), 60, product.log)
    _wait_for("a Celery worker", _worker_answers, 60, product.log)
    assert (product.var_dir / "celerybeat-schedule").exists() or any(
        product.var_dir.glob("celerybeat-schedule*")
    ), f"celery beat did not start:\n{_tail(product.log)}"

    doctor = _signed_in(product.base_url, "dr.li")
    home = doctor.get(f"{product.base_url}/", timeout=10)
    assert home.status_code == 200
    assert "李建国" in home.text

    # DICOMweb: STOW-RS with the signed-in session, then WADO-RS of the same instance.
    dicomweb = DICOMwebClient(url=f"{product.base_url}/dicomweb", session=doctor)
    stowed = _new_instance("NEWCOMER-STOW")
    dicomweb.store_instances([stowed])
    retrieved = dicomweb.retrieve_instance(
        stowed.StudyInstanceUID, stowed.SeriesInstanceUID, stowed.SOPInstanceUID
    )
    assert retrieved.SOPInstanceUID == stowed.SOPInstanceUID
    assert retrieved.PixelData == stowed.PixelData

    # C-STORE from the demo's registered modality, then found and read back over DICOMweb.
    sent = _new_instance("NEWCOMER-DIMSE")
    sent_path = tmp_path / "sent.dcm"
    sent.save_as(sent_path, enforce_file_format=True)
    storescu = subprocess.run(
        [
            dcmtk_tool("storescu"),
            "-aet",
            DEMO_AE_TITLE,
            "-aec",
            "YUNZHEN",
            "127.0.0.1",
            str(product.dicom_port),
            str(sent_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert storescu.returncode == 0, storescu.stdout + storescu.stderr
    found = dicomweb.search_for_studies(search_filters={"PatientID": "NEWCOMER-DIMSE"})
    assert [study["0020000D"]["Value"][0] for study in found] == [sent.StudyInstanceUID]
    read_back = dicomweb.retrieve_instance(
        sent.StudyInstanceUID, sent.SeriesInstanceUID, sent.SOPInstanceUID
    )
    assert read_back.PixelData == sent.PixelData

    # A consult for one of the township's demo patients, sent to the consult centre.
    patients = doctor.get(f"{product.base_url}/api/v1/patients/", timeout=10).json()["results"]
    assert patients, "the demo township has no patients"
    created = doctor.post(
        f"{product.base_url}/api/v1/consults/",
        json={
            "patient_id": patients[0]["id"],
            "kind": "imaging_reading",
            "mode": "offline",
            "urgency": "routine",
            "reason": "胸片示右下肺片状影。请协助阅片。",
            "purpose": "明确诊断",
            "clinical_summary": "咳嗽一周。发热三天。",
            "wanted_specialty": "radiology",
            "target_kind": "consult_centre",
            "consent_signer": "患者本人",
            "consent_relation": "self",
            "consent_method": "electronic",
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    consult_url = f"{product.base_url}/api/v1/consults/{created.json()['id']}/"
    submitted = doctor.post(f"{consult_url}transitions/", json={"action": "submit"}, timeout=10)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] != "draft"
    page = doctor.get(f"{product.base_url}/consults/{created.json()['id']}/", timeout=10)
    assert page.status_code == 200

    # Ctrl-C: every process of the product stops, and nothing is left listening or running.
    os.killpg(product.process.pid, signal.SIGINT)
    try:
        product.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make run did not stop on Ctrl-C:\n{_tail(product.log)}")
    _wait_for(
        "every process to exit",
        lambda: not _processes_of(str(product.var_dir)),
        STOP_SECONDS,
        product.log,
    )
    assert not _answers(int(product.base_url.rsplit(":", 1)[1]))
    assert not _answers(product.dicom_port)
