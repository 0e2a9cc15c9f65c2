"""Peers run the same workloads in this process: DBOS (SQLite file) and durabletask (in-memory backend).

Each peer module imports its library at the top, so `load_peer` turns a missing or broken install into
a reason the report prints as "n/a", and the run goes on.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from ..model import Result


class Peer(Protocol):
    """A started peer runtime; `run` returns the figures of one workload (or why it has none)."""

    def __enter__(self) -> Peer: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def run(self, workload: str, params: Mapping[str, int]) -> Result: ...


class PeerFactory(Protocol):
    def __call__(self, scratch: Path) -> Peer: ...


@dataclass(frozen=True)
class PeerInfo:
    key: str  # JSON key and column id
    label: str  # column header
    store: str  # what the peer persists to in this run
    module: str  # bench.peers.<module>, which defines `create(scratch) -> Peer` and `VERSION`


PEERS: tuple[PeerInfo, ...] = (
    PeerInfo("dbos", "DBOS", "sqlite", "dbos_peer"),
    PeerInfo("durabletask", "durabletask", "in-memory", "durabletask_peer"),
)


@dataclass(frozen=True)
class LoadedPeer:
    info: PeerInfo
    create: PeerFactory | None
    version: str | None
    error: str | None  # why the peer cannot run


def load_peer(info: PeerInfo) -> LoadedPeer:
    try:
        module = importlib.import_module(f"{__name__}.{info.module}")
    except Exception as exc:  # ImportError, or a library that fails while importing
        return LoadedPeer(info, None, None, f"cannot import: {type(exc).__name__}: {exc}")
    return LoadedPeer(info, module.create, module.VERSION, None)
