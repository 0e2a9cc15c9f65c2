"""The bench's own Azurite: the project's pinned emulator, in memory, on loopback ports the OS picks
(`durable_ext.store.azurite_launcher.start_private_azurite`).

One is started to measure the raw request rate, and a fresh one for each Azurite cell (see
`bench.__main__.azurite_cell`), each stopped after it, so a developer's Azurite on the default ports is
neither used nor disturbed.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass

from durable_ext.store.azurite_launcher import (
    AzuriteUnavailableError,
    PrivateAzurite,
    pinned_azurite,
    start_private_azurite,
)

AzuriteStartError = AzuriteUnavailableError


@dataclass
class RunningAzurite:
    azurite: PrivateAzurite
    version: str | None

    @property
    def process(self) -> subprocess.Popen[str]:
        return self.azurite.process

    @property
    def connection_string(self) -> str:
        return self.azurite.connection_string

    def stop(self) -> None:
        self.azurite.stop()


@functools.cache  # asked once per run, though each cell starts an emulator
def _version() -> str | None:
    azurite = pinned_azurite()
    if azurite is None:
        return None
    try:
        done = subprocess.run([str(azurite), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and text else None


def start_azurite() -> RunningAzurite:
    """Raises `AzuriteStartError` (with the reason) when Azurite is not installed or does not start."""
    return RunningAzurite(start_private_azurite(prefix="bench-azurite-"), _version())
