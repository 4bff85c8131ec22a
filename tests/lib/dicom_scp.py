"""A real `manage.py dicom_scp` process on the pytest database, probed with dcmtk's echoscu."""

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lib.processes import free_port, server_process

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
    env = {"DICOM_SCP_PORT": str(port), "DICOM_SCP_AE_TITLE": SCP_AE_TITLE, **(extra_env or {})}
    with server_process(
        [sys.executable, "manage.py", "dicom_scp"],
        log_path=log_path,
        env=env,
        ready=lambda: _answers(port),
    ):
        yield port


@dataclass(frozen=True)
class Scp:
    port: int
    archive: Path  # the SCP's MEDIA_ROOT
    log: Path


@contextmanager
def scp_with_archive(
    tmp_path_factory: pytest.TempPathFactory, extra_env: dict[str, str] | None = None
) -> Iterator[Scp]:
    """The SCP storing into an archive directory of its own, for a test module's fixture."""
    archive = tmp_path_factory.mktemp("archive")
    log = tmp_path_factory.mktemp("dicom_scp") / "dicom_scp.log"
    with dicom_scp(log, {"MEDIA_ROOT": str(archive), **(extra_env or {})}) as port:
        yield Scp(port=port, archive=archive, log=log)
