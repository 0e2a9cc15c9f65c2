"""The project's pinned Azurite (in memory). `UseDevelopmentStorage=true` with nothing listening: the host
starts it on the well-known ports if it is installed, as Core Tools users start it by hand; otherwise it
says exactly what to run. The tests and the bench start their own on ports the OS picks."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .azure.account import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME, parse_connection_string

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
    process = subprocess.Popen(_command(azurite), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AzuriteUnavailableError(f"Azurite ({azurite}) exited with {process.returncode} at start.")
        if all(_listening(p) for p in PORTS):
            return process
        time.sleep(0.1)
    process.kill()
    raise AzuriteUnavailableError(f"Azurite ({azurite}) did not listen on 127.0.0.1:10000-10002 in time.")


def _command(azurite: Path, *extra: str) -> list[str]:
    return [
        str(azurite),
        "--inMemoryPersistence",
        "--silent",
        "--skipApiVersionCheck",
        "--loose",
        "--disableTelemetry",
        *("--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1"),
        *extra,
    ]


# -- an Azurite of one's own, on free ports (the tests, the bench) ------------------------------------------
_ANNOUNCED = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (\S+)")


@dataclass
class PrivateAzurite:
    process: subprocess.Popen[str]
    workdir: str
    endpoints: dict[str, str] = field(default_factory=dict)  # "Blob" / "Queue" / "Table" -> http://host:port
    output: list[str] = field(default_factory=list)

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


def start_private_azurite(start_seconds: float = 60.0, prefix: str = "azurite-") -> PrivateAzurite:
    """The pinned Azurite in memory on loopback ports the OS picks (read back from its output), so neither a
    developer's Azurite on the default ports nor a parallel run collides with it."""
    azurite = pinned_azurite()
    if azurite is None:
        raise AzuriteUnavailableError(
            "Azurite is not installed: run `npm ci` in the repository root (it installs the pinned Azurite "
            "from package.json; needs Node.js)."
        )
    workdir = tempfile.mkdtemp(prefix=prefix)
    process = subprocess.Popen(
        _command(azurite, *("--blobPort", "0", "--queuePort", "0", "--tablePort", "0")),
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AZURITE_ACCOUNTS": ""},  # the well-known development account only
    )
    running = PrivateAzurite(process, workdir)
    announced: dict[str, str] = {}

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # keep draining, or a full pipe would block Azurite
            running.output.append(line)
            match = _ANNOUNCED.search(line)
            if match:
                announced[match.group(1)] = match.group(2).rstrip("/")

    threading.Thread(target=read, name="azurite-output", daemon=True).start()
    deadline = time.monotonic() + start_seconds
    while time.monotonic() < deadline and process.poll() is None:
        endpoints = dict(announced)
        if len(endpoints) == 3 and all(_answers(url) for url in endpoints.values()):
            running.endpoints = dict(sorted(endpoints.items()))
            return running
        time.sleep(0.05)
    running.stop()
    raise AzuriteUnavailableError(
        f"Azurite did not start within {start_seconds:.0f} s (exit code {process.poll()}):\n"
        + "".join(running.output[-30:])
    )


def _answers(url: str) -> bool:
    host, port = url.rsplit("//", 1)[1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False
