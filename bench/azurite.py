"""The bench's own Azurite: the project's pinned emulator, in memory, on loopback ports the OS picks
(`durable_ext.store.azurite_launcher.start_private_azurite`).

Started once per run when the Azurite column is wanted and stopped at the end, so a developer's Azurite on
the default ports is neither used nor disturbed.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from durable_ext.store.azurite_launcher import (
    AzuriteUnavailableError,
    PrivateAzurite,
    pinned_azurite,
    start_private_azurite,
)

from .azurite_rate import cpu_seconds

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

    def settle(self, *, busy_share: float = 0.05, window: float = 0.25, limit: float = 10.0) -> float:
        """Wait until the emulator is quiet (under `busy_share` of a core over `window` s), at most
        `limit` s, and return the seconds waited. After a workload it keeps working for a while (queue
        clean-up, garbage collection) on the same two cores, which would land on the next cell."""
        began = time.monotonic()
        before = cpu_seconds(self.process.pid)
        while before is not None and time.monotonic() - began < limit:
            time.sleep(window)
            after = cpu_seconds(self.process.pid)
            if after is None or after - before <= busy_share * window:
                break
            before = after
        return time.monotonic() - began


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
