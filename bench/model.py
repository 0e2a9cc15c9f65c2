"""What every benchmark shares: the workload definitions, their figures, and one result per system.

A workload is defined once here; `bench/workloads.py` runs it on our host and each module in
`bench/peers/` runs the same shape on a peer, with the same step function (`x + 1`).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar


@dataclass(frozen=True)
class Metric:
    key: str  # key in Result.values and in the JSON, e.g. "p50_ms"
    label: str  # column text, e.g. "p50 ms"
    higher_is_better: bool


P50_MS = Metric("p50_ms", "p50 ms", higher_is_better=False)
P99_MS = Metric("p99_ms", "p99 ms", higher_is_better=False)
STEPS_PER_S = Metric("steps_per_s", "steps/s", higher_is_better=True)
SECONDS = Metric("seconds", "s", higher_is_better=False)
EVENTS_PER_S = Metric("events_per_s", "events/s", higher_is_better=True)
SIGNALS_PER_S = Metric("signals_per_s", "signals/s", higher_is_better=True)
# Ours on an Azure store only (no peer has them): the host's storage requests per activity step or event.
REQUESTS_PER_STEP = Metric("requests_per_step", "requests/step", higher_is_better=False)
REQUESTS_PER_EVENT = Metric("requests_per_event", "requests/event", higher_is_better=False)
STORE_METRICS = (REQUESTS_PER_STEP, REQUESTS_PER_EVENT)
CPU_MS = "cpu_ms"  # Result.values key of the CPU row


@dataclass(frozen=True)
class CpuUnit:
    """What a workload's CPU row divides the process CPU time by: a name and how many a run does."""

    name: str  # "step", "activity", "event", "signal", "run"
    count: Callable[[Mapping[str, int]], int]  # how many of them a run of these sizes does

    @property
    def metric(self) -> Metric:
        return Metric(CPU_MS, f"CPU ms/{self.name}", higher_is_better=False)


class CpuMeter:
    """Process CPU time (every thread: our host and its clients, or a peer's workers) per unit of work, in ms.

    Steadier than rates on a shared, noisy machine, where a rate also counts time the host was not
    scheduled; the table's CPU row (`Result.values["cpu_ms"]`, per the workload's `CpuUnit`).
    """

    def __init__(self) -> None:
        self.started = time.process_time()

    def per(self, count: int) -> dict[str, float]:
        return {CPU_MS: (time.process_time() - self.started) * 1000.0 / count}


@dataclass(frozen=True)
class Workload:
    name: str  # what --only takes
    title: str  # a format string over the parameters, e.g. "fan-out/fan-in {width}"
    definition: str  # what is run and what each figure means (printed with --list, stored in the JSON)
    metrics: tuple[Metric, ...]
    cpu: CpuUnit
    full: Mapping[str, int]
    quick: Mapping[str, int]
    # On Azurite: at most these sizes (where the full size would take over ~60 s there), or n/a and why.
    azurite: Mapping[str, int] = field(default_factory=dict)
    azurite_na: str | None = None

    @property
    def figures(self) -> tuple[Metric, ...]:
        """Every figure the table and the JSON compare: the workload's own, then its CPU row."""
        return (*self.metrics, self.cpu.metric)

    def params(
        self, quick: bool, overrides: Mapping[str, int] | None = None, *, azurite: bool = False
    ) -> dict[str, int]:
        """The sizes to run: full or quick (capped on Azurite), with any `--set name=value` this workload
        has a parameter for (an explicit size wins over the cap)."""
        chosen = dict(self.quick if quick else self.full)
        if azurite:
            chosen = {k: min(v, self.azurite.get(k, v)) for k, v in chosen.items()}
        chosen.update({k: v for k, v in (overrides or {}).items() if k in chosen})
        return chosen


@dataclass
class Result:
    """One system's figures for one workload, or why it has none (`na`)."""

    values: dict[str, float] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    na: str | None = None
    warning: str | None = None  # figures were made, but something went wrong on the way (host errors)

    @classmethod
    def not_available(cls, reason: str) -> Result:
        return cls(na=reason)


class WorkloadTimeout(Exception):
    """A workload did not finish before its deadline; the message says how far it got."""


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "chain10_serial",
        "chain10 serial x{runs}",
        "One orchestration of 10 sequential activities at a time, `runs` times (after one warm-up run). "
        "Latency: start request to completion. steps/s = 10 * runs / wall time of all runs.",
        (P50_MS, P99_MS, STEPS_PER_S),
        CpuUnit("step", lambda p: 10 * p["runs"]),
        full={"runs": 30},
        quick={"runs": 10},
    ),
    Workload(
        "chain10_concurrent",
        "chain10 x{instances} at once",
        "`instances` chain10 orchestrations started at once. steps/s = 10 * instances / wall time from the "
        "first start to the last completion.",
        (STEPS_PER_S, SECONDS),
        CpuUnit("step", lambda p: 10 * p["instances"]),
        full={"instances": 300},
        quick={"instances": 50},
        azurite={"instances": 100},
    ),
    Workload(
        "fanout100",
        "fan-out/fan-in {width}",
        "One orchestration schedules `width` activities at once and sums their results; seconds from start "
        "to completion, median of `reps`.",
        (SECONDS,),
        CpuUnit("activity", lambda p: p["width"] * p["reps"]),
        full={"width": 100, "reps": 3},
        quick={"width": 100, "reps": 1},
    ),
    Workload(
        "fanout1000",
        "fan-out/fan-in {width}",
        "As fanout100 with `width` 1,000 activities (300 with --quick); seconds from start to completion, "
        "median of `reps`.",
        (SECONDS,),
        CpuUnit("activity", lambda p: p["width"] * p["reps"]),
        full={"width": 1000, "reps": 1},
        quick={"width": 300, "reps": 1},
    ),
    Workload(
        "hellocities5",
        "HelloCities5 x{instances}",
        "`instances` orchestrations of 5 sequential activities, started at once. events/s counts 2 events "
        "per activity (its scheduling and its result), i.e. 10 per orchestration, as the Netherite and "
        "MSSQL HelloCities5 figures do: events/s = 10 * instances / wall time from the first start to the "
        "last completion (activities/s is half of it).",
        (EVENTS_PER_S, SECONDS),
        CpuUnit("activity", lambda p: 5 * p["instances"]),
        full={"instances": 1000},
        quick={"instances": 100},
        azurite={"instances": 100},
    ),
    Workload(
        "external_events",
        "{events} events -> 1 orchestration",
        "One orchestration waits for `events` external events in a loop; once it runs, a client raises "
        "them one after the other. events/s = events / seconds from the first raise to completion, in "
        "the run with the median time of `reps` (a new orchestration each).",
        (EVENTS_PER_S, SECONDS),
        CpuUnit("event", lambda p: p["events"] * p["reps"]),
        full={"events": 500, "reps": 3},
        quick={"events": 100, "reps": 1},
    ),
    Workload(
        "entity_signals",
        "{signals} signals from {senders} -> 1 entity",
        "`senders` concurrent clients send `signals` 'add 1' signals in all to one counter entity, each "
        "one signal (one request) after the other. signals/s = signals / seconds from the first signal "
        "until the entity's state reads `signals`.",
        (SIGNALS_PER_S, SECONDS),
        CpuUnit("signal", lambda p: p["signals"]),
        full={"signals": 2000, "senders": 10},
        quick={"signals": 500, "senders": 10},
    ),
    Workload(
        "start_latency",
        "start->completed, 1 activity",
        "`runs` one-activity orchestrations, one at a time. Ours: one POST to the durable HTTP API start "
        "route with `timeout`, answered with the status once completed; latency = the completion time "
        "the host records minus the time the POST was sent. Peers: their client API (DBOS "
        "start_workflow + get_result; durabletask schedule_new_orchestration + "
        "wait_for_orchestration_completion).",
        (P50_MS, P99_MS),
        CpuUnit("run", lambda p: p["runs"]),
        full={"runs": 50},
        quick={"runs": 15},
    ),
)

WORKLOADS_BY_NAME = {w.name: w for w in WORKLOADS}


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 30 samples is the largest one)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def latency_figures(latencies_s: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": statistics.median(latencies_s) * 1e3,
        "p99_ms": percentile(latencies_s, 0.99) * 1e3,
    }


R = TypeVar("R")


def median_by(runs: Sequence[R], key: Callable[[R], float]) -> R:
    """The run whose `key` is the median (the lower middle one of an even count), kept whole."""
    return sorted(runs, key=key)[(len(runs) - 1) // 2]


def median_run(events: int, runs: Sequence[tuple[float, float]]) -> Result:
    """A peer's external_events figures: the run (seconds, seconds raising) with the median time."""
    seconds, raising = median_by(runs, lambda run: run[0])
    return Result(
        {"events_per_s": events / seconds, "seconds": seconds},
        {"events": events, "raising_s": raising, "seconds_each": [run[0] for run in runs]},
    )
