"""The tests' shared Azurite (the Azure Storage emulator, pinned in package.json), started on first use.

It runs in memory on ports the OS picks (`durable_ext.store.azurite_launcher.start_private_azurite`), so
parallel runs and a developer's own Azurite on the default ports do not collide. Tests that need it fail
(not skip) when it is not installed: CI installs it with `npm ci`.

Between test modules it is replaced once it is `RECYCLE_AFTER_SECONDS` old. In memory, Azurite keeps each
queue message in an extent of its own and collects the dead ones every 60 s at a cost that grows with the
square of their number: one emulator for the whole suite stopped answering for 12 s at its first
collection (and for 58 s after 8,000 messages in the bench), long enough to fail a test waiting 10 s.
"""

from __future__ import annotations

import atexit
import threading
import time

import pytest

from durable_ext.store.azurite_launcher import AzuriteUnavailableError, PrivateAzurite, start_private_azurite

RECYCLE_AFTER_SECONDS = 40.0  # its first collection with anything to collect comes at 60 s

_shared: PrivateAzurite | None = None
_started_at = 0.0
_lock = threading.Lock()


def start_azurite() -> PrivateAzurite:
    try:
        return start_private_azurite()
    except AzuriteUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


def shared_azurite() -> PrivateAzurite:
    """The shared Azurite, started on first use (and again after `recycle_shared_azurite_if_old`)."""
    global _shared, _started_at
    with _lock:
        if _shared is None or _shared.process.poll() is not None:
            _shared = start_azurite()
            _started_at = time.monotonic()
            atexit.register(_shared.stop)
        return _shared


def recycle_shared_azurite_if_old() -> None:
    """Between modules (no fixture holds the emulator then): stop it if it is old, so the next use starts a
    fresh one before the old one's garbage collection stalls a test."""
    global _shared
    with _lock:
        if _shared is not None and time.monotonic() - _started_at > RECYCLE_AFTER_SECONDS:
            _shared.stop()
            _shared = None


def stop_shared_azurite() -> None:
    global _shared
    with _lock:
        if _shared is not None:
            _shared.stop()
            _shared = None
