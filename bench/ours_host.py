"""Our side's harness: the real `DurableHost`, in-process, on a fresh copy of `bench/app`.

The host runs on its own asyncio loop in a thread (as in tests/support/host_runner.py). Client work runs as
coroutines on that loop, because the SDK keeps one aiohttp session per process, bound to the loop that
made it.
Completion is read from the store with a deadline; figures use the completion time the host records.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import azure.durable_functions as df

from durable_ext.engine.status import InstanceState, RuntimeStatus
from durable_ext.host import DurableHost, HostOptions

from .model import WorkloadTimeout

T = TypeVar("T")
APP_DIR = Path(__file__).resolve().parent / "app"
STORE = "embedded"  # the only store today; Azurite will be a second value of this column


class BenchHost:
    """One host with a fresh embedded task hub: `with BenchHost(scratch, "chain10") as h: ...`."""

    def __init__(self, scratch: Path, label: str) -> None:
        self.root = scratch / f"{label}-{uuid.uuid4().hex[:8]}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"bench-host-{label}", daemon=True)
        self._host: DurableHost | None = None
        self._client: df.DurableOrchestrationClient | None = None

    # -- lifetime ------------------------------------------------------------------------------------
    def __enter__(self) -> BenchHost:
        shutil.copytree(APP_DIR, self.root, ignore=shutil.ignore_patterns(".durable", "__pycache__"))
        self._thread.start()

        async def boot() -> DurableHost:
            host = DurableHost(HostOptions(script_root=self.root, port=0))
            await host.start()
            return host

        self._host = self.run(boot(), timeout=60)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._host is not None:
                self.run(self._host.stop(), timeout=60)
        finally:
            self._host = None
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the host's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # -- what workloads use ---------------------------------------------------------------------------
    @property
    def host(self) -> DurableHost:
        assert self._host is not None, "the host is not running"
        return self._host

    @property
    def origin(self) -> str:
        return self.host.origin

    @property
    def client(self) -> df.DurableOrchestrationClient:
        """The SDK client a `durableClient` binding would get (only use it on the host's loop)."""
        if self._client is None:
            self._client = df.DurableOrchestrationClient(self.host.urls.client_binding_json())
        return self._client

    async def start(self, orchestrator: str, payload: Any) -> str:
        instance_id: str = await self.client.start_new(orchestrator, None, payload)
        return instance_id

    async def start_many(
        self, orchestrator: str, payloads: Sequence[Any], concurrency: int = 16
    ) -> list[str]:
        """Start one instance per payload through the SDK client, `concurrency` requests in flight."""
        gate = asyncio.Semaphore(concurrency)

        async def one(payload: Any) -> str:
            async with gate:
                return await self.start(orchestrator, payload)

        return list(await asyncio.gather(*(one(p) for p in payloads)))

    async def wait_status(
        self, instance_id: str, wanted: frozenset[RuntimeStatus], deadline: float, interval: float = 0.002
    ) -> InstanceState:
        """Poll the store until the instance reaches a wanted status (Failed etc. raise at once)."""
        while True:
            state = await self.host.store.get_instance(instance_id)
            if state is not None and state.runtime_status in wanted:
                return state
            if state is not None and state.runtime_status.is_terminal:
                raise RuntimeError(
                    f"instance {instance_id} ended {state.runtime_status.value}: {(state.output or '')[:300]}"
                )
            if time.monotonic() > deadline:
                seen = state.runtime_status.value if state else "not found"
                raise WorkloadTimeout(f"instance {instance_id} still {seen} at the deadline")
            await asyncio.sleep(interval)

    async def wait_completed(
        self, instance_ids: Sequence[str], deadline: float, interval: float = 0.005
    ) -> list[InstanceState]:
        """Wait for every instance, in order (one store read per poll), until the deadline."""
        done: list[InstanceState] = []
        for index, instance_id in enumerate(instance_ids):
            try:
                done.append(await self.wait_status(instance_id, COMPLETED, deadline, interval))
            except WorkloadTimeout:
                raise WorkloadTimeout(
                    f"{index} of {len(instance_ids)} instances completed before the deadline"
                ) from None
        return done


COMPLETED = frozenset({RuntimeStatus.COMPLETED})
RUNNING = frozenset({RuntimeStatus.RUNNING})


def completed_at(state: InstanceState) -> float:
    """The completion time the host recorded, as a `time.time()` value."""
    return (state.completed_time or state.last_updated_time).timestamp()


class HostErrors(logging.Handler):
    """Counts what the host logs at ERROR or above (failed episodes, work it will retry) during a workload.

    Installed on the `durable_ext` logger in place of printing: a figure made while the host was failing
    and retrying is flagged in the table rather than buried in pages of tracebacks.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                text += f": {type(error).__name__}: {error}"
            self.first = " ".join(text.split())[:240]

    def install(self) -> None:
        logger = logging.getLogger("durable_ext")
        logger.setLevel(logging.WARNING)  # it logs every invocation at INFO, as `func start` does
        logger.addHandler(self)
        logger.propagate = False

    def take(self) -> tuple[int, str | None]:
        """What was logged since the last call, and reset."""
        self.acquire()
        try:
            count, first = self.count, self.first
            self.count, self.first = 0, None
        finally:
            self.release()
        return count, first
