"""`UseDevelopmentStorage=true` with nothing listening: start the project's pinned Azurite (in memory) if
it is installed, as Core Tools users start it by hand; otherwise say exactly what to run."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from .azure.account import parse_connection_string

PORTS = (10000, 10001, 10002)  # blob, queue, table: the emulator's well-known endpoints
START_SECONDS = 30.0


class AzuriteUnavailableError(Exception):
    pass


def uses_development_storage(connection_string: str) -> bool:
    return parse_connection_string(connection_string).get("usedevelopmentstorage", "").lower() == "true"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def pinned_azurite() -> Path | None:
    """node_modules/.bin/azurite of the checkout durable_ext runs from (installed by `npm ci`)."""
    candidate = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "azurite"
    return candidate if candidate.exists() and shutil.which("node") else None


def ensure_azurite() -> subprocess.Popen[bytes] | None:
    """None when Azurite already answers; the started process when we started one."""
    if all(_listening(p) for p in PORTS):
        return None
    azurite = pinned_azurite()
    if azurite is None:
        raise AzuriteUnavailableError(
            "AzureWebJobsStorage is UseDevelopmentStorage=true but nothing listens on "
            "127.0.0.1:10000-10002. Start the emulator (`npx azurite --inMemoryPersistence`, or `npm ci` "
            "in the durable_ext checkout so the host can start its pinned Azurite), or set "
            'AzureWebJobsStorage to "" for the embedded hub.'
        )
    process = subprocess.Popen(
        [
            str(azurite),
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--blobHost",
            "127.0.0.1",
            "--queueHost",
            "127.0.0.1",
            "--tableHost",
            "127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AzuriteUnavailableError(f"Azurite ({azurite}) exited with {process.returncode} at start.")
        if all(_listening(p) for p in PORTS):
            return process
        time.sleep(0.1)
    process.kill()
    raise AzuriteUnavailableError(f"Azurite ({azurite}) did not listen on 127.0.0.1:10000-10002 in time.")
