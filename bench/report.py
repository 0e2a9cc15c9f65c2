"""The side-by-side table and the JSON file (figures, ratios ours / peer, floors, Azurite's rate)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .azurite_rate import RawRate
from .model import STORE_METRICS, Metric, Result, Workload


@dataclass(frozen=True)
class System:
    key: str  # "ours", "dbos", "durabletask"
    label: str  # the column: "DBOS", or for ours "ours (embedded)", "ours (Azurite)"
    store: str  # for ours, the key of WorkloadRun.ours: "embedded", "azurite"
    version: str | None = None
    error: str | None = None  # set when the whole system could not run


@dataclass
class WorkloadRun:
    workload: Workload
    params: dict[str, int]  # the sizes the peers and the title use
    ours: dict[str, Result] = field(default_factory=dict)  # by store: "embedded", "azurite"
    peers: dict[str, Result] = field(default_factory=dict)  # by peer key
    ours_params: dict[str, dict[str, int]] = field(default_factory=dict)  # by store, where they differ


@dataclass(frozen=True)
class AzuriteFigures:
    """The emulator behind the Azurite column, and its own request rate measured in the same run."""

    version: str | None
    raw: Sequence[RawRate] = ()
    error: str | None = None  # it could not start (every Azurite cell is n/a with this reason)


HEADLINE = "chain10_concurrent"  # the workload whose requests/step the ceiling is computed from


def requests_per_step(runs: Sequence[WorkloadRun], store: str = "azurite") -> dict[str, float]:
    """requests/step of every workload that has the figure on `store`, by workload name."""
    found = {}
    for run in runs:
        result = run.ours.get(store)
        value = result.values.get("requests_per_step") if result is not None else None
        if value is not None:
            found[run.workload.name] = value
    return found


def _headline(runs: Sequence[WorkloadRun]) -> tuple[str, float] | None:
    """chain10 concurrent's requests/step, or failing that the first workload that has one."""
    found = requests_per_step(runs)
    if HEADLINE in found:
        return HEADLINE, found[HEADLINE]
    return next(iter(found.items()), None)


def azurite_json(azurite: AzuriteFigures, runs: Sequence[WorkloadRun]) -> dict[str, Any]:
    headline = _headline(runs)
    ceilings = {r.operation: r.per_s / headline[1] for r in azurite.raw} if headline else {}
    return {
        "version": azurite.version,
        "error": azurite.error,
        "raw_rates": [r.as_json() for r in azurite.raw],
        "requests_per_step": requests_per_step(runs),
        "ceiling": {
            "definition": "raw requests/s / requests per step of the workload named: the steps/s Azurite "
            "could serve at that many requests per step",
            "workload": headline[0] if headline else None,
            "requests_per_step": headline[1] if headline else None,
            "steps_per_s_by_operation": ceilings,
        },
    }


def ratio(ours: Result, peer: Result, metric: Metric) -> float | None:
    """ours / peer for one figure; None when either side has no figure."""
    mine, theirs = ours.values.get(metric.key), peer.values.get(metric.key)
    if mine is None or theirs is None or theirs == 0:
        return None
    return mine / theirs


def build_json(
    runs: Sequence[WorkloadRun],
    ours: Sequence[System],
    peers: Sequence[System],
    floors: Mapping[str, Mapping[str, float]],
    meta: Mapping[str, Any],
    azurite: AzuriteFigures | None = None,
) -> dict[str, Any]:
    workloads = []
    for run in runs:
        w = run.workload
        results = [
            {"system": "ours", "store": s, "params": run.ours_params.get(s, run.params), **asdict(r)}
            for s, r in run.ours.items()
        ]
        results += [{"system": p.key, "store": p.store, **asdict(run.peers[p.key])} for p in peers]
        ratios = []
        for store, mine in run.ours.items():
            for p in peers:
                for metric in w.figures:
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
                "metrics": [asdict(m) for m in w.figures],
                "results": results,
                "ratios": ratios,
            }
        )
    return {
        "schema": 2,  # 2: one "ours" system per store; Azurite figures; requests per step
        **meta,
        "ratio_definition": "ours / peer on the same figure; for rates (/s) above 1 means ours is faster, "
        "for times (ms, s) below 1 means ours is faster",
        "systems": [asdict(s) for s in (*ours, *peers)],
        "floors": floors,
        "azurite": azurite_json(azurite, runs) if azurite is not None else None,
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


def _ratio_base(ours: Sequence[System]) -> System | None:
    """Which of our columns the ratios use: the embedded store when it ran."""
    return next((s for s in ours if s.store == "embedded"), ours[0] if ours else None)


def render_table(
    runs: Sequence[WorkloadRun],
    ours: Sequence[System],
    peers: Sequence[System],
    floors: Mapping[str, Mapping[str, float]],
    azurite: AzuriteFigures | None = None,
) -> str:
    notes = _Notes()
    base = _ratio_base(ours)
    header = [
        "workload",
        "figure",
        *(s.label for s in ours),
        *(f"{p.label} ({p.store})" for p in peers),
        *(f"ours/{p.label}" for p in peers),
        "ours vs best peer",
    ]
    rows: list[list[str]] = []
    for run in runs:
        title = run.workload.title.format(**run.params)
        extra = [m for m in STORE_METRICS if any(m.key in r.values for r in run.ours.values())]
        for index, metric in enumerate((*run.workload.figures, *extra)):
            cells = [title if index == 0 else "", metric.label]
            for s in ours:
                mine = run.ours.get(s.store)
                text = _cell(mine, metric, notes) if mine is not None else ""
                if index == 0 and mine is not None and mine.na is None:
                    text += _size_note(run, s, notes)
                cells.append(text)
            if metric in extra:  # ours on an Azure store only: nothing to compare with
                rows.append(cells + [""] * (2 * len(peers) + 1))
                continue
            theirs = [run.peers.get(p.key) for p in peers]
            cells += [_cell(r, metric, notes) if r is not None else "" for r in theirs]
            mine = run.ours.get(base.store) if base is not None else None
            ratios = [ratio(mine, r, metric) if r is not None and mine is not None else None for r in theirs]
            cells += [f"{v:.2f}" if v is not None else "" for v in ratios]
            cells.append(_verdict(ratios, metric))
            rows.append(cells)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = set(range(2, len(header) - 1))

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        parts = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in pairs]
        return "  ".join(parts).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out.append("")
    if peers and base is not None:
        out.append(
            f"ratio = {base.label} / peer: for /s figures above 1 means ours is faster; "
            "for ms and s, below 1."
        )
    if any(s.store == "azurite" for s in ours):
        out.append(
            "requests/step (/event): HTTP requests our store's Azure SDK clients sent while the workload "
            "was measured, divided by its activity steps (raised events); the harness's polls excluded."
        )
    for number, reason in enumerate(notes.reasons, start=1):
        out.append(f"[{number}] {reason}")
    for p in peers:
        if p.version:
            out.append(f"{p.label} {p.version}")
    out.append("")
    out.append(render_floors(floors))
    if azurite is not None:
        out.append(render_azurite(azurite, runs))
    return "\n".join(out)


def _size_note(run: WorkloadRun, store: System, notes: _Notes) -> str:
    """A footnote marker when this store ran smaller sizes than the title says (Azurite caps)."""
    params = run.ours_params.get(store.store)
    if params is None or params == run.params:
        return ""
    sizes = ", ".join(f"{k}={v}" for k, v in params.items() if v != run.params.get(k))
    return f" [{notes.number(f'{store.label} ran {sizes}: the full size takes over ~60 s on Azurite')}]"


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


def render_azurite(azurite: AzuriteFigures, runs: Sequence[WorkloadRun]) -> str:
    title = f"Azurite {azurite.version or ''}".rstrip()
    if azurite.error is not None:
        return f"{title}: n/a: {azurite.error}"
    out = [f"{title}, raw request rate through the Azure SDK from this process (nothing else running):"]
    for r in azurite.raw:
        cpu = f"CPU: the bench process {r.client_cpu:.2f} cores"
        if r.azurite_cpu is not None:
            cpu += f", Azurite {r.azurite_cpu:.2f}"
        out.append(
            f"  {r.operation + ':':21} {r.per_s:,.0f} requests/s from {r.clients} clients "
            f"(p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms; {cpu})"
        )
    headline = _headline(runs)
    if headline is not None and azurite.raw:
        name, per_step = headline
        ceilings = " to ".join(f"{c:,.0f}" for c in sorted(r.per_s / per_step for r in azurite.raw))
        out.append(
            f"  at {per_step:.1f} requests/step ({name}), a ceiling of {ceilings} steps/s "
            "from the emulator alone"
        )
    return "\n".join(out)
