"""DBOS Transact with its SQLite system database (default durability), same shapes as our workloads.

Adapted from /work/shared/peers/dbos_bench.py: a step is `x + 1`; chain workflows call it in a loop (the
serial case calls the workflow directly, as that script does); fan-out gathers async steps, the fastest
of the script's three fan-out variants; external events are `DBOS.send` to a workflow looping on
`DBOS.recv`. DBOS has no entities.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Mapping
from importlib.metadata import version
from pathlib import Path
from types import TracebackType

from dbos import DBOS

from ..model import Result, latency_figures, median_run

VERSION = version("dbos")


@DBOS.step()
def inc(x: int) -> int:
    return x + 1


@DBOS.workflow()
def chain(x: int, steps: int) -> int:
    for _ in range(steps):
        x = inc(x)
    return x


@DBOS.step()
async def inc_async(x: int) -> int:
    return x + 1


@DBOS.workflow()
async def fan_out(n: int) -> int:
    return sum(await asyncio.gather(*(inc_async(i) for i in range(n))))


@DBOS.workflow()
def wait_events(n: int) -> int:
    received = 0
    for _ in range(n):
        if DBOS.recv("e", timeout_seconds=60) is None:
            raise TimeoutError(f"event {received + 1} of {n} did not arrive")
        received += 1
    return received


@DBOS.workflow()
def hello1(x: int) -> int:
    return inc(x)


class DbosPeer:
    def __init__(self, scratch: Path) -> None:
        self.db_path = scratch / "dbos.sqlite"
        self._workloads: dict[str, Callable[[Mapping[str, int]], Result]] = {
            "chain10_serial": self.chain10_serial,
            "chain10_concurrent": self.chain10_concurrent,
            "fanout100": self.fanout,
            "fanout1000": self.fanout,
            "hellocities5": self.hellocities5,
            "external_events": self.external_events,
            "start_latency": self.start_latency,
        }

    def __enter__(self) -> DbosPeer:
        DBOS(
            config={
                "name": "durable-ext-bench",
                "system_database_url": f"sqlite:///{self.db_path}",
                "log_level": "WARNING",
            }
        )
        DBOS.launch()
        chain(0, 10)  # warm-up of each kind of workflow
        DBOS.start_workflow(hello1, 0).get_result()
        asyncio.run(fan_out(10))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        DBOS.destroy()

    def run(self, workload: str, params: Mapping[str, int]) -> Result:
        if workload == "entity_signals":
            return Result.not_available("DBOS has no entities")
        return self._workloads[workload](params)

    def chain10_serial(self, p: Mapping[str, int]) -> Result:
        runs = p["runs"]
        latencies = []
        clock = time.perf_counter()
        for i in range(runs):
            started = time.perf_counter()
            assert chain(i, 10) == i + 10
            latencies.append(time.perf_counter() - started)
        wall = time.perf_counter() - clock
        return Result({**latency_figures(latencies), "steps_per_s": 10 * runs / wall}, {"runs": runs})

    def _batch(self, n: int, steps: int) -> float:
        clock = time.perf_counter()
        handles = [DBOS.start_workflow(chain, i, steps) for i in range(n)]
        for i, handle in enumerate(handles):
            assert handle.get_result() == i + steps
        return time.perf_counter() - clock

    def chain10_concurrent(self, p: Mapping[str, int]) -> Result:
        n = p["instances"]
        seconds = self._batch(n, 10)
        return Result({"steps_per_s": 10 * n / seconds, "seconds": seconds}, {"instances": n})

    def fanout(self, p: Mapping[str, int]) -> Result:
        width, reps = p["width"], p["reps"]
        times = []
        for _ in range(reps):
            clock = time.perf_counter()
            assert asyncio.run(fan_out(width)) == sum(range(1, width + 1))
            times.append(time.perf_counter() - clock)
        return Result(
            {"seconds": statistics.median(times)},
            {"width": width, "seconds_each": times, "variant": "async steps + asyncio.gather"},
        )

    def hellocities5(self, p: Mapping[str, int]) -> Result:
        n = p["instances"]
        seconds = self._batch(n, 5)
        return Result(
            {"events_per_s": 10 * n / seconds, "seconds": seconds},
            {"instances": n, "activities_per_s": 5 * n / seconds},
        )

    def external_events(self, p: Mapping[str, int]) -> Result:
        n, reps = p["events"], p["reps"]

        def one() -> tuple[float, float]:
            handle = DBOS.start_workflow(wait_events, n)
            clock = time.perf_counter()
            for _ in range(n):
                DBOS.send(handle.get_workflow_id(), 1, "e")
            raising = time.perf_counter() - clock
            assert handle.get_result() == n
            return time.perf_counter() - clock, raising

        return median_run(n, [one() for _ in range(reps)])

    def start_latency(self, p: Mapping[str, int]) -> Result:
        runs = p["runs"]
        latencies = []
        for i in range(runs):
            clock = time.perf_counter()
            assert DBOS.start_workflow(hello1, i).get_result() == i + 1
            latencies.append(time.perf_counter() - clock)
        return Result(latency_figures(latencies), {"runs": runs, "via": "start_workflow + get_result"})


def create(scratch: Path) -> DbosPeer:
    return DbosPeer(scratch)
