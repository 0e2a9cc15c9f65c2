"""The side-by-side table and the JSON file (figures, ratios ours / peer, floors, versions)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .model import Metric, Result, Workload


@dataclass(frozen=True)
class System:
    key: str  # "ours", "dbos", "durabletask"
    label: str
    store: str
    version: str | None = None
    error: str | None = None  # set when the whole system could not run


@dataclass
class WorkloadRun:
    workload: Workload
    params: dict[str, int]
    ours: dict[str, Result] = field(default_factory=dict)  # by store: "embedded" (later "azurite")
    peers: dict[str, Result] = field(default_factory=dict)  # by peer key


def ratio(ours: Result, peer: Result, metric: Metric) -> float | None:
    """ours / peer for one figure; None when either side has no figure."""
    mine, theirs = ours.values.get(metric.key), peer.values.get(metric.key)
    if mine is None or theirs is None or theirs == 0:
        return None
    return mine / theirs


def build_json(
    runs: Sequence[WorkloadRun],
    ours: System,
    peers: Sequence[System],
    floors: Mapping[str, Mapping[str, float]],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    workloads = []
    for run in runs:
        w = run.workload
        results = [{"system": ours.key, "store": s, **asdict(r)} for s, r in run.ours.items()]
        results += [{"system": p.key, "store": p.store, **asdict(run.peers[p.key])} for p in peers]
        ratios = []
        for store, mine in run.ours.items():
            for p in peers:
                for metric in w.metrics:
                    value = ratio(mine, run.peers[p.key], metric)
                    if value is None:
                        continue
                    better = value > 1 if metric.higher_is_better else value < 1
                    entry = {"ours_store": store, "peer": p.key, "metric": metric.key, "ratio": value}
                    ratios.append({**entry, "ours_better": better})
        workloads.append(
            {
                "name": w.name,
                "title": w.title.format(**run.params),
                "definition": w.definition,
                "params": run.params,
                "metrics": [asdict(m) for m in w.metrics],
                "results": results,
                "ratios": ratios,
            }
        )
    return {
        "schema": 1,
        **meta,
        "ratio_definition": "ours / peer on the same figure; for rates (/s) above 1 means ours is faster, "
        "for times (ms, s) below 1 means ours is faster",
        "systems": [asdict(s) for s in (ours, *peers)],
        "floors": floors,
        "workloads": workloads,
    }


def write_json(document: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


# -- the table ---------------------------------------------------------------------------------------
def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _verdict(values: Sequence[float | None], metric: Metric) -> str:
    """How ours compares with the best peer on this figure, e.g. "2.3x slower"."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    # Best peer: the smallest ratio for a rate (their figure is largest), the largest for a time.
    r = min(known) if metric.higher_is_better else max(known)
    faster = r > 1 if metric.higher_is_better else r < 1
    factor = r if r >= 1 else 1 / r
    if factor < 1.05:
        return "on par"
    return f"{factor:.1f}x {'faster' if faster else 'slower'}"


class _Notes:
    """n/a reasons and warnings, numbered once each, printed under the table."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def number(self, reason: str) -> int:
        if reason not in self.reasons:
            self.reasons.append(reason)
        return self.reasons.index(reason) + 1


def render_table(
    runs: Sequence[WorkloadRun],
    ours: System,
    peers: Sequence[System],
    floors: Mapping[str, Mapping[str, float]],
) -> str:
    notes = _Notes()
    header = [
        "workload",
        "figure",
        "ours store",
        ours.label,
        *(f"{p.label} ({p.store})" for p in peers),
        *(f"ours/{p.label}" for p in peers),
        "ours vs best peer",
    ]
    rows: list[list[str]] = []
    for run in runs:
        title = run.workload.title.format(**run.params)
        for store, mine in run.ours.items():
            for index, metric in enumerate(run.workload.metrics):
                cells = [title if index == 0 else "", metric.label, store if index == 0 else ""]
                cells.append(_cell(mine, metric, notes))
                theirs = [run.peers.get(p.key) for p in peers]
                cells += [_cell(r, metric, notes) if r is not None else "" for r in theirs]
                ratios = [ratio(mine, r, metric) if r is not None else None for r in theirs]
                cells += [f"{v:.2f}" if v is not None else "" for v in ratios]
                cells.append(_verdict(ratios, metric))
                rows.append(cells)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = set(range(3, len(header) - 1))

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        parts = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in pairs]
        return "  ".join(parts).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out.append("")
    out.append("ratio = ours / peer: for /s figures above 1 means ours is faster; for ms and s, below 1.")
    for number, reason in enumerate(notes.reasons, start=1):
        out.append(f"[{number}] {reason}")
    for p in peers:
        if p.version:
            out.append(f"{p.label} {p.version}")
    out.append("")
    out.append(render_floors(floors))
    return "\n".join(out)


def _cell(result: Result, metric: Metric, notes: _Notes) -> str:
    if result.na is not None:
        return f"n/a [{notes.number(result.na)}]"
    value = result.values.get(metric.key)
    text = _number(value) if value is not None else ""
    if result.warning and text:  # a figure to read with care: its footnote says why
        text += f" [{notes.number('warning: ' + result.warning)}]"
    return text


def _p50_p99(figures: Mapping[str, float]) -> str:
    return f"p50 {figures['p50_ms']:.3f} ms   p99 {figures['p99_ms']:.3f} ms"


def render_floors(floors: Mapping[str, Mapping[str, float]]) -> str:
    fsync = floors["fsync"]
    commit = floors["sqlite_wal_commit_full"]
    per_step = commit["p50_ms"]
    return "\n".join(
        [
            "Floors on this disk (the repository's):",
            f"  fsync of a 64-byte write:            {_p50_p99(fsync)}",
            f"  SQLite WAL commit, synchronous=FULL: {_p50_p99(commit)}",
            f"  a durable serial step needs at least one commit before the next step starts: "
            f">= {per_step:.2f} ms, i.e. at most {1000 / per_step:,.0f} steps/s from the disk alone",
        ]
    )
