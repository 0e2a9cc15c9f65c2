"""One Azurite (the Azure Storage emulator, pinned in package.json) per test session.

It runs in memory on ports the OS picks (`durable_ext.store.azurite_launcher.start_private_azurite`), so
parallel runs and a developer's own Azurite on the default ports do not collide. Tests that need it fail
(not skip) when it is not installed: CI installs it with `npm ci`.
"""

from __future__ import annotations

import atexit
import threading

import pytest

from durable_ext.store.azurite_launcher import AzuriteUnavailableError, PrivateAzurite, start_private_azurite

_shared: PrivateAzurite | None = None
_lock = threading.Lock()


def start_azurite() -> PrivateAzurite:
    try:
        return start_private_azurite()
    except AzuriteUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


def shared_azurite() -> PrivateAzurite:
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
