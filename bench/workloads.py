"""Our side of each workload (see bench/model.py for the definitions), each on a fresh hub.

Every function takes a scratch folder, the store to run on and the workload's parameters, runs the real
host on a fresh copy of bench/app, and returns figures computed from the completion times the host
records. On an Azure store it also counts the storage requests the host sent while it was measured.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from durable_ext.engine.history import EventType
from durable_ext.store.azure.request_count import REQUESTS, RequestCounts, labelled

from .model import (
    CPU_MS,
    REQUESTS_PER_EVENT,
    REQUESTS_PER_STEP,
    CpuMeter,
    Metric,
    Result,
    latency_figures,
    median_by,
)
from .ours_host import COMPLETED, PROBE, RUNNING, BenchHost, OurStore, completed_at

OurWorkload = Callable[[Path, OurStore, Mapping[str, int]], Result]


def _requests(since: RequestCounts, per: Metric, units: int) -> Result:
    """The storage requests sent since `since`, per step or event (nothing on the embedded store).

    The figure counts the host's requests; the harness's own polls are in the detail as "probe".
    """
    spent = REQUESTS.snapshot() - since
    host = spent.total()
    if not spent.by_kind:
        return Result()
    detail = {"host": host, "host_by_kind": spent.as_dict(), "probe": spent.total(PROBE)}
    return Result({per.key: host / units}, {"storage_requests": detail})


def _with(result: Result, extra: Result) -> Result:
    result.values.update(extra.values)
    result.detail.update(extra.detail)
    return result


def _output(state: Any) -> Any:
    return json.loads(state.output) if state.output else None


async def _episodes(h: BenchHost, instance_id: str) -> int:
    """How many episodes (orchestrator replays) the instance took: its OrchestratorStarted events."""
    with labelled(PROBE):
        history = await h.host.store.get_history(instance_id)
    return sum(1 for e in history if e.event_type == EventType.ORCHESTRATOR_STARTED)


async def _warm_up(h: BenchHost) -> None:
    """One orchestration before measuring: first-call costs (imports, connections) stay out of the figures."""
    instance_id = await h.start("hello1", {"x": 0})
    await h.wait_status(instance_id, COMPLETED, time.monotonic() + 30)


async def _batch(
    h: BenchHost,
    orchestrator: str,
    payloads: Sequence[Any],
    expected: Sequence[Any],
    timeout: float,
    *,
    activities: int,
) -> tuple[float, dict[str, float]]:
    """Start every payload at once and wait for all: seconds from the first start to the last recorded
    completion. `activities`: how many the batch runs in all, for the CPU time per activity."""
    deadline = time.monotonic() + timeout
    sent = time.time()
    clock, cpu = time.perf_counter(), CpuMeter()
    ids = await h.start_many(orchestrator, payloads)
    starting = time.perf_counter() - clock
    states = await h.wait_completed(ids, deadline)
    observed = time.perf_counter() - clock
    wrong = [(s.instance_id, _output(s), e) for s, e in zip(states, expected, strict=True) if _output(s) != e]
    if wrong:
        raise AssertionError(f"{len(wrong)} wrong outputs, first: {wrong[0]}")
    seconds = max(completed_at(s) for s in states) - sent
    detail = {"starting_s": starting, "observed_s": observed, **cpu.per(activities)}
    if len(ids) == 1:
        detail["episodes"] = await _episodes(h, ids[0])
    return seconds, detail


def chain10_serial(scratch: Path, store: OurStore, p: Mapping[str, int]) -> Result:
    runs = p["runs"]
    with BenchHost(scratch, "chain10_serial", store) as h:

        async def body() -> tuple[list[float], float, dict[str, float], Result]:
            await _warm_up(h)
            deadline = time.monotonic() + 60 + runs
            before = REQUESTS.snapshot()

            async def one(x: int) -> float:
                sent = time.time()
                instance_id = await h.start("chain", {"x": x, "steps": 10})
                state = await h.wait_status(instance_id, COMPLETED, deadline)
                assert _output(state) == x + 10, state.output
                return completed_at(state) - sent

            clock, cpu = time.perf_counter(), CpuMeter()
            latencies = [await one(i) for i in range(runs)]
            wall = time.perf_counter() - clock
            spent = cpu.per(10 * runs)
            return latencies, wall, spent, _requests(before, REQUESTS_PER_STEP, 10 * runs)

        latencies, wall, cpu, requests = h.run(body())
    result = Result(
        {**latency_figures(latencies), "steps_per_s": 10 * runs / wall, **cpu},
        {"runs": runs, "wall_s": wall},
    )
    return _with(result, requests)


def chain10_concurrent(scratch: Path, store: OurStore, p: Mapping[str, int]) -> Result:
    n = p["instances"]
    with BenchHost(scratch, "chain10_concurrent", store) as h:

        async def body() -> tuple[float, dict[str, float], Result]:
            await _warm_up(h)
            before = REQUESTS.snapshot()
            payloads = [{"x": i, "steps": 10} for i in range(n)]
            seconds, detail = await _batch(
                h, "chain", payloads, [i + 10 for i in range(n)], timeout=180, activities=10 * n
            )
            return seconds, detail, _requests(before, REQUESTS_PER_STEP, 10 * n)

        seconds, detail, requests = h.run(body())
    values = {"steps_per_s": 10 * n / seconds, "seconds": seconds, CPU_MS: detail.pop(CPU_MS)}
    result = Result(values, {"instances": n, **detail})
    return _with(result, requests)


def _fanout(scratch: Path, store: OurStore, p: Mapping[str, int], label: str) -> Result:
    width, reps = p["width"], p["reps"]
    with BenchHost(scratch, label, store) as h:

        async def body() -> tuple[list[float], list[float], list[float], Result]:
            await _warm_up(h)
            times, episodes, cpu = [], [], []
            before = REQUESTS.snapshot()
            for _ in range(reps):
                seconds, detail = await _batch(
                    h, "fan_out", [{"n": width}], [sum(range(1, width + 1))], 180, activities=width
                )
                times.append(seconds)
                episodes.append(detail["episodes"])
                cpu.append(detail[CPU_MS])
            return times, episodes, cpu, _requests(before, REQUESTS_PER_STEP, width * reps)

        times, episodes, cpu, requests = h.run(body())
    result = Result(
        {"seconds": statistics.median(times), CPU_MS: statistics.median(cpu)},
        {
            "width": width,
            "seconds_each": times,
            "episodes_each": episodes,
        },
    )
    return _with(result, requests)


def fanout100(scratch: Path, store: OurStore, p: Mapping[str, int]) -> Result:
    return _fanout(scratch, store, p, "fanout100")


def fanout1000(scratch: Path, store: OurStore, p: Mapping[str, int]) -> Result:
    return _fanout(scratch, store, p, "fanout1000")


def hellocities5(scratch: Path, store: OurStore, p: Mapping[str, int]) -> Result:
    n = p["instances"]
    with BenchHost(scratch, "hellocities5", store) as h:

        async def body() -> tuple[float, dict[str, float], Result]:
            await _warm_up(h)
            before = REQUESTS.snapshot()
            payloads = [{"x": i, "steps": 5} for i in range(n)]
            seconds, detail = await _batch(
                h, "chain", payloads, [i + 5 for i in range(n)], timeout=240, activities=5 * n
            )
            return seconds, detail, _requests(before, REQUESTS_PER_STEP, 5 * n)

        seconds, detail, requests = h.run(body())
    result = Result(
        {"events_per_s": 10 * n / seconds, "seconds": seconds, CPU_MS: detail.pop(CPU_MS)},
        {"instances": n, "activities_per_s": 5 * n / seconds, "orchestrations_per_s": n / seconds, **detail},
    )
    return _with(result, requests)


def external_events(scratch: Path, store: OurStore, p: Mapping[str, int]) -> Result:
    n, reps = p["events"], p["reps"]
    with BenchHost(scratch, "external_events", store) as h:

        async def one() -> dict[str, float]:
            deadline = time.monotonic() + 120
            instance_id = await h.start("wait_events", {"n": n})
            await h.wait_status(instance_id, RUNNING, deadline)
            sent = time.time()
            clock, cpu = time.perf_counter(), CpuMeter()
            for _ in range(n):
                await h.client.raise_event(instance_id, "e", 1)
            raising = time.perf_counter() - clock
            state = await h.wait_status(instance_id, COMPLETED, deadline)
            assert _output(state) == n, state.output
            spent = cpu.per(n)
            episodes = await _episodes(h, instance_id)
            return {
                "seconds": completed_at(state) - sent,
                "raising_s": raising,
                "episodes": episodes,
                **spent,
            }

        async def body() -> tuple[list[dict[str, float]], Result]:
            await _warm_up(h)
            before = REQUESTS.snapshot()
            runs = [await one() for _ in range(reps)]
            return runs, _requests(before, REQUESTS_PER_EVENT, n * reps)

        runs, requests = h.run(body())
    # The run with the median time, whole: a run is only ~0.5 s, short enough for one busy moment on
    # the machine to halve it.
    middle = dict(median_by(runs, lambda run: run["seconds"]))
    cpu_ms = middle.pop(CPU_MS)  # a figure of its own, not detail
    result = Result(
        {"events_per_s": n / middle["seconds"], "seconds": middle["seconds"], CPU_MS: cpu_ms},
        {"events": n, **middle, "seconds_each": [run["seconds"] for run in runs]},
    )
    return _with(result, requests)


def entity_signals(scratch: Path, store: OurStore, p: Mapping[str, int]) -> Result:
    """No request count here: the state is polled through the HTTP API, so the host's storage reads and
    the harness's polls cannot be told apart."""
    n, senders = p["signals"], p["senders"]
    entity = df.EntityId("counter", "bench")
    with BenchHost(scratch, "entity_signals", store) as h:

        async def body() -> Result:
            await _warm_up(h)
            sent, cpu = time.time(), CpuMeter()
            try:  # the first signal doubles as the capability probe
                await h.client.signal_entity(entity, "add", 1)
            except Exception as exc:
                reason = " ".join(str(exc).split())[:120]
                if "404" in reason:  # no entity route: the host has no entities yet
                    return Result.not_available(f"entities not implemented (signal_entity: {reason})")
                raise

            async def sender(count: int) -> None:
                for _ in range(count):
                    await h.client.signal_entity(entity, "add", 1)

            shares = [len(range(i, n - 1, senders)) for i in range(senders)]
            await asyncio.gather(*(sender(count) for count in shares))
            deadline = time.monotonic() + 120
            while True:
                state = await h.client.read_entity_state(entity)
                if state.entity_exists and state.entity_state == n:
                    seconds = time.time() - sent  # observed: the host records no per-signal times
                    return Result(
                        {"signals_per_s": n / seconds, "seconds": seconds, **cpu.per(n)},
                        {"signals": n, "senders": senders},
                    )
                if time.monotonic() > deadline:
                    return Result.not_available(f"timeout: the entity read {state.entity_state} of {n}")
                await asyncio.sleep(max(0.005, store.min_poll_s))

        return h.run(body())


def start_latency(scratch: Path, store: OurStore, p: Mapping[str, int]) -> Result:
    """Over plain HTTP from this thread, as `curl` would: one POST to the start route with `timeout`, which
    answers 200 with the status once the instance completes (the HTTP API's wait-for-completion form)."""
    runs = p["runs"]
    with BenchHost(scratch, "start_latency", store) as h:
        start_url = f"{h.origin}/runtime/webhooks/durabletask/orchestrators/hello1?timeout=30"

        def one(x: int) -> tuple[float, float]:
            sent = time.time()
            clock = time.perf_counter()
            code, body = _http("POST", start_url, {"x": x})
            observed = time.perf_counter() - clock
            assert code == 200 and body["runtimeStatus"] == "Completed", (code, body)
            state = h.run(h.host.store.get_instance(body["instanceId"]))
            assert state is not None and _output(state) == x + 1
            return completed_at(state) - sent, observed

        one(0)  # warm-up
        cpu = CpuMeter()
        samples = [one(i) for i in range(runs)]
        spent = cpu.per(runs)
    recorded = [s[0] for s in samples]
    observed = [s[1] for s in samples]
    observed_figures = {f"observed_{k}": v for k, v in latency_figures(observed).items()}
    return Result({**latency_figures(recorded), **spent}, {"runs": runs, **observed_figures})


def _http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
        return response.status, json.loads(raw) if raw else None


OURS: dict[str, OurWorkload] = {
    "chain10_serial": chain10_serial,
    "chain10_concurrent": chain10_concurrent,
    "fanout100": fanout100,
    "fanout1000": fanout1000,
    "hellocities5": hellocities5,
    "external_events": external_events,
    "entity_signals": entity_signals,
    "start_latency": start_latency,
}
