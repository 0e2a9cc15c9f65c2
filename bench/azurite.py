"""The bench's own Azurite: the project's pinned emulator, in memory, on loopback ports the OS picks.

Started once per run when the Azurite column is wanted and stopped at the end, so a developer's Azurite on
the default ports is neither used nor disturbed.
"""

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

from durable_ext.store.azure.account import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME
from durable_ext.store.azurite_launcher import pinned_azurite

START_SECONDS = 60.0
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (\S+)")


class AzuriteStartError(Exception):
    pass


@dataclass
class RunningAzurite:
    process: subprocess.Popen[str]
    endpoints: dict[str, str]  # "Blob" / "Queue" / "Table" -> http://127.0.0.1:PORT
    workdir: str
    version: str | None = None
    output: list[str] = field(default_factory=list)

    @property
    def connection_string(self) -> str:
        services = "".join(
            f"{name}Endpoint={url}/{DEV_ACCOUNT_NAME};" for name, url in self.endpoints.items()
        )
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY};"
            f"{services}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _answers(url: str) -> bool:
    host, port = url.rsplit("//", 1)[1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def _version(azurite: str) -> str | None:
    try:
        done = subprocess.run([azurite, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and text else None


def start_azurite() -> RunningAzurite:
    azurite = pinned_azurite()
    if azurite is None:
        raise AzuriteStartError(
            "Azurite is not installed: run `npm ci` in the repository root (it needs Node.js)"
        )
    workdir = tempfile.mkdtemp(prefix="bench-azurite-")
    process = subprocess.Popen(
        [
            str(azurite),
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            *("--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1"),
            *("--blobPort", "0", "--queuePort", "0", "--tablePort", "0"),  # 0: the OS picks free ports
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AZURITE_ACCOUNTS": ""},  # the well-known development account only
    )
    running = RunningAzurite(process, {}, workdir, _version(str(azurite)))

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # drain all along: a full pipe would stall Azurite
            running.output.append(line)
            match = _LISTENING.search(line)
            if match:
                running.endpoints[match.group(1)] = match.group(2).rstrip("/")

    threading.Thread(target=read, name="bench-azurite-output", daemon=True).start()
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        endpoints = dict(running.endpoints)
        if len(endpoints) == 3 and all(_answers(url) for url in endpoints.values()):
            running.endpoints = dict(sorted(endpoints.items()))
            return running
        time.sleep(0.05)
    running.stop()
    tail = " ".join("".join(running.output[-5:]).split())[:300]
    raise AzuriteStartError(
        f"Azurite did not start within {START_SECONDS:.0f} s (exit code {process.poll()}): {tail}"
    )
