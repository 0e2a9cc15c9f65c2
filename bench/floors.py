"""The disk's floor for a durable step: an fsync of a small write, and a SQLite WAL commit (synchronous=FULL).

Measured in a scratch folder inside the repository, i.e. on the disk the embedded hubs use.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from .model import latency_figures

SAMPLES = 200


def fsync_floor(folder: Path, samples: int = SAMPLES) -> dict[str, float]:
    """Append 64 bytes then `os.fsync`, `samples` times; the figures time the fsync alone."""
    path = folder / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    times = []
    try:
        for _ in range(samples):
            os.write(fd, b"x" * 64)
            started = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return {**latency_figures(times), "samples": samples}


def sqlite_commit_floor(folder: Path, samples: int = SAMPLES) -> dict[str, float]:
    """One-row INSERT transactions in WAL mode with synchronous=FULL, as the embedded hub commits."""
    path = folder / "commit.probe.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    times = []
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        for i in range(samples):
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (id, body) VALUES (?, ?)", (i, "x" * 200))
            conn.execute("COMMIT")
            times.append(time.perf_counter() - started)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return {**latency_figures(times), "samples": samples}


def measure_floors(folder: Path) -> dict[str, dict[str, float]]:
    return {"fsync": fsync_floor(folder), "sqlite_wal_commit_full": sqlite_commit_floor(folder)}
