"""durabletask-python (Microsoft) with its bundled in-memory gRPC backend: no sidecar, no persistence.

Adapted from /work/shared/peers/durabletask_inmem_bench.py: the same activity `x + 1`, chains of
activities, `when_all` fan-out, `wait_for_external_event` in a loop, and a counter entity. Completion is
awaited with the client's server-side wait (`wait_for_orchestration_completion`).
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import time
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from types import TracebackType
from typing import Any

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # before grpc loads: no INFO lines from its C core

from durabletask import client, task, worker  # noqa: E402
from durabletask.entities import EntityContext, EntityInstanceId  # noqa: E402
from durabletask.testing import create_test_backend  # noqa: E402

from ..model import Result, latency_figures, median_run  # noqa: E402

VERSION = version("durabletask")
Orchestrator = Generator[task.Task[Any], Any, Any]


def inc(ctx: task.ActivityContext, x: int) -> int:
    return x + 1


def chain(ctx: task.OrchestrationContext, args: dict[str, int]) -> Orchestrator:
    x = args["x"]
    for _ in range(args["steps"]):
        x = yield ctx.call_activity(inc, input=x)
    return x


def fan_out(ctx: task.OrchestrationContext, n: int) -> Orchestrator:
    results = yield task.when_all([ctx.call_activity(inc, input=i) for i in range(n)])
    return sum(results)


def wait_events(ctx: task.OrchestrationContext, n: int) -> Orchestrator:
    received = 0
    for _ in range(n):
        yield ctx.wait_for_external_event("e")
        received += 1
    return received


def hello1(ctx: task.OrchestrationContext, x: int) -> Orchestrator:
    return (yield ctx.call_activity(inc, input=x))


def counter(ctx: EntityContext, value: int) -> int | None:
    count: int = ctx.get_state(int, 0)
    if ctx.operation == "add":
        ctx.set_state(count + value)
        return None
    return count


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class DurableTaskPeer:
    def __init__(self, scratch: Path) -> None:
        self.port = _free_port()
        self._workloads: dict[str, Callable[[Mapping[str, int]], Result]] = {
            "chain10_serial": self.chain10_serial,
            "chain10_concurrent": self.chain10_concurrent,
            "fanout100": self.fanout,
            "fanout1000": self.fanout,
            "hellocities5": self.hellocities5,
            "external_events": self.external_events,
            "entity_signals": self.entity_signals,
            "start_latency": self.start_latency,
        }

    def __enter__(self) -> DurableTaskPeer:
        quiet = logging.NullHandler()
        address = f"localhost:{self.port}"
        self.backend = create_test_backend(port=self.port)
        self.worker = worker.TaskHubGrpcWorker(host_address=address, log_handler=quiet)
        for orchestrator in (chain, fan_out, wait_events, hello1):
            self.worker.add_orchestrator(orchestrator)
        self.worker.add_activity(inc)
        self.worker.add_entity(counter)
        self.worker.start()
        self.client = client.TaskHubGrpcClient(host_address=address, log_handler=quiet)
        self._run(chain, {"x": 0, "steps": 10})  # warm-up of each kind of orchestration
        self._run(fan_out, 10)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.worker.stop()
        self.backend.stop()

    def run(self, workload: str, params: Mapping[str, int]) -> Result:
        return self._workloads[workload](params)

    def _run(self, orchestrator: task.Orchestrator[Any, Any], payload: Any, timeout: float = 120) -> Any:
        instance_id = self.client.schedule_new_orchestration(orchestrator, input=payload)
        return self._wait(instance_id, timeout)

    def _wait(self, instance_id: str, timeout: float) -> Any:
        state = self.client.wait_for_orchestration_completion(instance_id, timeout=timeout)
        assert state is not None and state.runtime_status == client.OrchestrationStatus.COMPLETED, state
        return state.get_output()

    def chain10_serial(self, p: Mapping[str, int]) -> Result:
        runs = p["runs"]
        latencies = []
        clock = time.perf_counter()
        for i in range(runs):
            started = time.perf_counter()
            assert self._run(chain, {"x": i, "steps": 10}) == i + 10
            latencies.append(time.perf_counter() - started)
        wall = time.perf_counter() - clock
        return Result({**latency_figures(latencies), "steps_per_s": 10 * runs / wall}, {"runs": runs})

    def _batch(self, n: int, steps: int) -> float:
        clock = time.perf_counter()
        start = self.client.schedule_new_orchestration
        ids = [start(chain, input={"x": i, "steps": steps}) for i in range(n)]
        for i, instance_id in enumerate(ids):
            assert self._wait(instance_id, 300) == i + steps
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
            assert self._run(fan_out, width) == sum(range(1, width + 1))
            times.append(time.perf_counter() - clock)
        return Result({"seconds": statistics.median(times)}, {"width": width, "seconds_each": times})

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
            instance_id = self.client.schedule_new_orchestration(wait_events, input=n)
            self.client.wait_for_orchestration_start(instance_id, timeout=30)
            clock = time.perf_counter()
            for _ in range(n):
                self.client.raise_orchestration_event(instance_id, "e", data=1)
            raising = time.perf_counter() - clock
            assert self._wait(instance_id, 120) == n
            return time.perf_counter() - clock, raising

        return median_run(n, [one() for _ in range(reps)])

    def entity_signals(self, p: Mapping[str, int]) -> Result:
        n, senders = p["signals"], p["senders"]
        entity = EntityInstanceId("counter", "bench")
        clock = time.perf_counter()

        def sender(count: int) -> None:
            for _ in range(count):
                self.client.signal_entity(entity, "add", input=1)

        with ThreadPoolExecutor(max_workers=senders) as pool:
            list(pool.map(sender, [len(range(i, n, senders)) for i in range(senders)]))
        deadline = time.monotonic() + 120
        while True:
            metadata = self.client.get_entity(entity)
            if metadata is not None and metadata.get_state(int) == n:
                break
            if time.monotonic() > deadline:
                state = metadata.get_state(int) if metadata else None
                return Result.not_available(f"timeout: the entity read {state} of {n}")
            time.sleep(0.005)
        seconds = time.perf_counter() - clock
        return Result({"signals_per_s": n / seconds, "seconds": seconds}, {"signals": n, "senders": senders})

    def start_latency(self, p: Mapping[str, int]) -> Result:
        runs = p["runs"]
        latencies = []
        for i in range(runs):
            clock = time.perf_counter()
            assert self._run(hello1, i) == i + 1
            latencies.append(time.perf_counter() - clock)
        return Result(
            latency_figures(latencies),
            {"runs": runs, "via": "schedule_new_orchestration + wait_for_orchestration_completion"},
        )


def create(scratch: Path) -> DurableTaskPeer:
    return DurableTaskPeer(scratch)
