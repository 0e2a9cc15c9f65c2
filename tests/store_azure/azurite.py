"""One Azurite (the Azure Storage emulator, pinned in package.json) per test session.

It runs in memory on ports the OS picks, so parallel runs and a developer's own Azurite on the
default ports do not collide. Tests that need it fail (not skip) when it is not installed: CI
installs it with `npm install`.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from durable_ext.store.azure.account import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME

REPO = Path(__file__).resolve().parents[2]
AZURITE = REPO / "node_modules" / ".bin" / "azurite"
START_DEADLINE = 60.0
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (\S+)")


@dataclass
class Azurite:
    process: subprocess.Popen[str]
    endpoints: dict[str, str]  # "Blob" / "Queue" / "Table" -> http://127.0.0.1:PORT
    workdir: str

    @property
    def connection_string(self) -> str:
        services = "".join(
            f"{name}Endpoint={url}/{DEV_ACCOUNT_NAME};" for name, url in self.endpoints.items()
        )
        account = f"AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY}"
        return f"DefaultEndpointsProtocol=http;{account};{services}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _missing_message() -> str:
    return (
        f"Azurite is not installed ({AZURITE} is missing): run `npm install` in the repository root "
        "(it installs the pinned Azurite from package.json; needs Node.js)."
    )


def _answers(url: str) -> bool:
    host, port = url.rsplit("//", 1)[1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def start_azurite() -> Azurite:
    if not AZURITE.exists():
        pytest.fail(_missing_message(), pytrace=False)
    if shutil.which("node") is None:
        pytest.fail("Azurite needs Node.js (`node` is not on PATH).", pytrace=False)
    workdir = tempfile.mkdtemp(prefix="azurite-")
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            *("--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1"),
            *("--blobPort", "0", "--queuePort", "0", "--tablePort", "0"),
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AZURITE_ACCOUNTS": ""},
    )
    endpoints: dict[str, str] = {}
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # keep draining, or a full pipe would block Azurite
            output.append(line)
            match = _LISTENING.search(line)
            if match:
                endpoints[match.group(1)] = match.group(2).rstrip("/")

    threading.Thread(target=read, name="azurite-output", daemon=True).start()
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if len(endpoints) == 3 and all(_answers(url) for url in endpoints.values()):
            return Azurite(process, dict(sorted(endpoints.items())), workdir)
        time.sleep(0.05)
    azurite = Azurite(process, endpoints, workdir)
    azurite.stop()
    pytest.fail(
        f"Azurite did not start within {START_DEADLINE:.0f}s (exit code {process.poll()}):\n"
        + "".join(output[-30:]),
        pytrace=False,
    )


_shared: Azurite | None = None
_lock = threading.Lock()


def shared_azurite() -> Azurite:
    """The session's Azurite, started on first use."""
    global _shared
    with _lock:
        if _shared is None or _shared.process.poll() is not None:
            _shared = start_azurite()
            atexit.register(_shared.stop)
        return _shared


def stop_shared_azurite() -> None:
    global _shared
    with _lock:
        if _shared is not None:
            _shared.stop()
            _shared = None
