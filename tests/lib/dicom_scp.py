"""A real `manage.py dicom_scp` process on the pytest database, probed with dcmtk's echoscu."""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from tests.lib.daphne import free_port, test_database_url

START_SECONDS = 30
POLL_SECONDS = 0.1
SCP_AE_TITLE = "YUNZHEN"


def dcmtk_tool(name: str) -> str:
    """The full path of a dcmtk command (`make services` installs dcmtk)."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed; `make dcmtk` installs it.")
    return path


def _answers(port: int) -> bool:
    """Whether the SCP answers an association request at all (a rejection counts)."""
    probe = subprocess.run(
        [
            dcmtk_tool("echoscu"),
            "-aet",
            "READINESS",
            "-aec",
            SCP_AE_TITLE,
            "-to",
            "2",
            "127.0.0.1",
            str(port),
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return probe.returncode == 0 or "Association Rejected" in probe.stdout + probe.stderr


@contextmanager
def dicom_scp(log_path: Path, extra_env: dict[str, str] | None = None) -> Iterator[int]:
    """Start the SCP on a free loopback port against the test database; yield the port.

    Raises: RuntimeError with the SCP's log if it does not answer in time.
    """
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.test_settings",
        "DATABASE_URL": test_database_url(),
        "DICOM_SCP_PORT": str(port),
        "DICOM_SCP_AE_TITLE": SCP_AE_TITLE,
        **(extra_env or {}),
    }
    command = [sys.executable, "manage.py", "dicom_scp"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + START_SECONDS
            while not _answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dicom_scp did not answer:\n{log_path.read_text()}")
                time.sleep(POLL_SECONDS)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
