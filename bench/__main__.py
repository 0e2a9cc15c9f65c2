"""`python -m bench`: our host and its peers on the same workloads, in one process, one table.

    python -m bench                 full run (5 to 9 minutes on 2 cores, depending on load)
    python -m bench --quick         smaller sizes
    python -m bench --only chain10_serial --only fanout100
    python -m bench --store embedded    our host on the embedded store only (default: both stores)
    python -m bench --list          the workloads and what each figure means

Prints the table and writes bench/results/latest.json (figures, ratios ours / peer, floors, Azurite's rate).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .azurite import AzuriteStartError, start_azurite
from .azurite_rate import measure_raw_rates
from .floors import measure_floors
from .model import CPU_MS, WORKLOADS, WORKLOADS_BY_NAME, CpuMeter, Result, Workload, WorkloadTimeout
from .ours_host import AZURITE, EMBEDDED, HostErrors, OurStore, azurite_store
from .peers import PEERS, Peer, load_peer
from .report import AzuriteFigures, System, WorkloadRun, build_json, render_table, write_json
from .workloads import OURS

RESULTS_DIR = Path(__file__).resolve().parent / "results"
HOST_ERRORS = HostErrors()
VERSIONED = ("durable_ext", "azure-functions-durable", "azure-functions", "aiohttp", "dbos", "durabletask")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this workload (repeat, or separate names with commas); see --list",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="NAME=N",
        help="override a size for the workloads that have it, e.g. --set runs=200 (see --list)",
    )
    parser.add_argument("--no-peers", action="store_true", help="run our side only")
    parser.add_argument(
        "--store",
        choices=("embedded", "azurite", "both"),
        default="both",
        help="our host's task hub: embedded SQLite, Azure Storage on an Azurite the bench starts, or both",
    )
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument(
        "--json", type=Path, default=RESULTS_DIR / "latest.json", help="where to write the results"
    )
    return parser.parse_args(argv)


def select(only: Sequence[str] | None) -> list[Workload]:
    if not only:
        return list(WORKLOADS)
    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS_BY_NAME]
    if unknown:
        raise SystemExit(f"unknown workload {unknown[0]!r}; known: {', '.join(WORKLOADS_BY_NAME)}")
    return [w for w in WORKLOADS if w.name in names]


def settled_heap() -> None:
    """Before each cell: collect, then freeze what is alive (earlier cells' leftovers, the peers' stores)
    so the garbage collector does not walk it again during this cell's run, whichever system's it is."""
    gc.collect()
    gc.freeze()


def guarded(label: str, body: Callable[[], Result]) -> Result:
    """Run one system's workload; an error becomes an n/a cell with its reason, and the run goes on."""
    print(f"  {label} ...", end="", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        result = body()
    except WorkloadTimeout as exc:
        result = Result.not_available(f"{label}: timeout: {exc}")
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        result = Result.not_available(f"{label}: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}")
    took = time.perf_counter() - started
    print(f" {took:.1f}s{' (n/a)' if result.na else ''}", file=sys.stderr, flush=True)
    result.detail.setdefault("run_s", round(took, 3))
    return result


def with_cpu(workload: Workload, params: dict[str, int], body: Callable[[], Result]) -> Result:
    """A peer's figures with its CPU row: the process CPU time of its whole run (the peers' threads run in
    this process) per unit of the workload's `CpuUnit`. Ours measures the same inside its workloads,
    from its first start request to the last completion (host start-up and warm-up left out)."""
    cpu = CpuMeter()
    result = body()
    if result.na is None:
        result.values.setdefault(CPU_MS, cpu.per(workload.cpu.count(params))[CPU_MS])
    return result


def run_ours(name: str, scratch: Path, store: OurStore, params: dict[str, int]) -> Result:
    """Our side of one workload; what the host logged as errors meanwhile goes with the figures."""
    HOST_ERRORS.take()
    result = guarded(f"ours/{store.key}", partial(OURS[name], scratch, store, params))
    count, first = HOST_ERRORS.take()
    if count:
        result.detail["host_errors"] = count
        result.warning = f"ours/{store.key}: the host logged {count} errors during the run; first: {first}"
        print(f"    ! {result.warning}", file=sys.stderr, flush=True)
    return result


@dataclass
class OurColumn:
    """One store our host runs on; `error` (Azurite would not start) makes every cell n/a. On Azurite,
    `store` has no connection string: each cell runs on an emulator of its own (`azurite_cell`)."""

    system: System
    store: OurStore | None
    error: str | None = None


def start_azurite_column(quick: bool) -> tuple[OurColumn, AzuriteFigures]:
    """Measure the raw request rate of a fresh Azurite (stopped afterwards): the Azurite column's ceiling."""
    label = "ours (Azurite)"
    print("starting Azurite ...", file=sys.stderr, flush=True)
    try:
        azurite = start_azurite()
    except AzuriteStartError as exc:
        print(f"Azurite: n/a: {exc}", file=sys.stderr, flush=True)
        column = OurColumn(System("ours", label, AZURITE, _version("durable_ext"), str(exc)), None, str(exc))
        return column, AzuriteFigures(None, error=str(exc))
    try:
        print("Azurite raw request rate ...", file=sys.stderr, flush=True)
        raw = measure_raw_rates(azurite.connection_string, azurite.process.pid, seconds=1.5 if quick else 3.0)
    finally:
        azurite.stop()
    column = OurColumn(System("ours", label, AZURITE, _version("durable_ext")), azurite_store(""))
    return column, AzuriteFigures(azurite.version, raw)


def azurite_cell(column: OurColumn, name: str, scratch: Path, params: dict[str, int]) -> Result:
    """One workload on an Azurite started for it alone and stopped after it. One emulator for the whole run
    stalled for 40-100 s once a minute: in memory, Azurite keeps every queue message in an extent of its own,
    and its queue garbage collection (every 60 s) removes the dead ones at a cost that grows with the square
    of their number (the README's Benchmarks section has the figures). A fresh emulator per cell keeps each
    cell inside the first minute, before its first collection with anything to collect."""
    try:
        azurite = start_azurite()
    except AzuriteStartError as exc:
        return Result.not_available(f"{column.system.label}: {exc}")
    try:
        return run_ours(name, scratch, azurite_store(azurite.connection_string), params)
    finally:
        azurite.stop()


def ours_cell(
    column: OurColumn, workload: Workload, name: str, scratch: Path, params: dict[str, int]
) -> Result:
    """Our host on one store, or n/a: Azurite did not start, or the workload does not fit it."""
    if column.store is None:
        return Result.not_available(f"{column.system.label}: {column.error}")
    if column.store.key == AZURITE:
        if workload.azurite_na:
            return Result.not_available(f"{column.system.label}: {workload.azurite_na}")
        return azurite_cell(column, name, scratch, params)
    return run_ours(name, scratch, column.store, params)


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _git_state() -> dict[str, str | bool | None]:
    """Which code was measured: the commit, and whether durable_ext/ had uncommitted changes."""
    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    changes = git("status", "--porcelain", "--", "durable_ext")
    return {
        "commit": git("rev-parse", "HEAD"),
        "durable_ext_modified": bool(changes) if changes is not None else None,
    }


def _quiet_logs() -> None:
    HOST_ERRORS.install()
    # azure.functions warns on the root logger that the DFApp's auth level is unused (no HTTP trigger).
    logging.getLogger().addFilter(lambda record: not str(record.msg).startswith("Auth level is not applied"))


def parse_overrides(items: Sequence[str] | None) -> dict[str, int]:
    overrides = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise SystemExit(f"--set wants NAME=INTEGER, e.g. --set runs=200; got {item!r}")
        overrides[name.strip()] = int(value)
    return overrides


@dataclass
class StartedPeer:
    system: System
    peer: Peer | None  # None: it could not start, and every workload gets `system.error` as its n/a


def start_peers(stack: ExitStack, scratch: Path) -> list[StartedPeer]:
    """Import and start every peer before the first workload, so workloads can interleave the systems."""
    started = []
    for info in PEERS:
        loaded = load_peer(info)
        error = loaded.error
        peer: Peer | None = None
        if loaded.create is not None:
            print(f"starting {info.label} ...", file=sys.stderr, flush=True)
            folder = scratch / info.key
            folder.mkdir()
            try:
                peer = stack.enter_context(loaded.create(folder))
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                error = f"failed to start: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        if error:
            print(f"{info.label}: n/a: {error}", file=sys.stderr, flush=True)
        started.append(StartedPeer(System(info.key, info.label, info.store, loaded.version, error), peer))
    return started


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for w in WORKLOADS:
            print(f"{w.name}\n    full {w.full}, quick {w.quick}")
            if w.azurite_na:
                print(f"    Azurite: n/a ({w.azurite_na})")
            elif w.azurite:
                print(f"    Azurite: at most {dict(w.azurite)} (the full size takes over ~60 s there)")
            print(f"    {w.definition}\n")
        return 0
    workloads = select(args.only)
    overrides = parse_overrides(args.set)
    _quiet_logs()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    began = time.perf_counter()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=RESULTS_DIR))
    runs = [WorkloadRun(w, w.params(args.quick, overrides)) for w in workloads]
    azurite: AzuriteFigures | None = None
    try:
        print("floors ...", file=sys.stderr, flush=True)
        floors = measure_floors(scratch)
        with ExitStack() as stack:
            columns = []
            if args.store in ("embedded", "both"):
                embedded = System("ours", "ours (embedded)", EMBEDDED.key, _version("durable_ext"))
                columns.append(OurColumn(embedded, EMBEDDED))
            if args.store in ("azurite", "both"):
                column, azurite = start_azurite_column(args.quick)
                columns.append(column)
            peers = [] if args.no_peers else start_peers(stack, scratch)
            # One workload at a time on every system, so a busy spell on the machine hits all of them alike.
            for run in runs:
                name = run.workload.name
                print(f"{name} {run.params}:", file=sys.stderr, flush=True)
                for c in columns:
                    params = run.workload.params(args.quick, overrides, azurite=c.system.store == AZURITE)
                    if params != run.params:
                        run.ours_params[c.system.store] = params
                        print(f"  ({c.system.label}: {params})", file=sys.stderr, flush=True)
                    settled_heap()
                    run.ours[c.system.store] = ours_cell(c, run.workload, name, scratch, params)
                for p in peers:
                    key = p.system.key
                    if p.peer is None:
                        run.peers[key] = Result.not_available(f"{p.system.label}: {p.system.error}")
                    else:
                        settled_heap()
                        peer_run = partial(p.peer.run, name, run.params)
                        run.peers[key] = guarded(key, partial(with_cpu, run.workload, run.params, peer_run))
            print("stopping ...", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    systems = [p.system for p in peers]
    ours = [c.system for c in columns]
    load_after = os.getloadavg()
    meta = {
        "started_at": started_at,
        "duration_s": round(time.perf_counter() - began, 1),
        "quick": args.quick,
        "overrides": overrides,
        "workloads_run": [w.name for w in workloads],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_1m_before": load_before[0],
            "loadavg_1m_after": load_after[0],
        },
        "versions": {p: _version(p) for p in VERSIONED},
        "git": _git_state(),
    }
    print(file=sys.stderr)
    print(render_table(runs, ours, systems, floors, azurite))
    busy = max(load_before[0], load_after[0])
    if busy > 1.0:
        print(f"\nnote: load average {busy:.1f} on {os.cpu_count()} cores: other work shared the machine.")
    write_json(build_json(runs, ours, systems, floors, meta, azurite), args.json)
    print(f"\nwrote {args.json} ({meta['duration_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
