"""Our side's harness: the real `DurableHost`, in-process, on a fresh copy of `bench/app` and a fresh hub.

The host runs on its own asyncio loop in a thread (as in tests/support/host_runner.py). Client work runs as
coroutines on that loop, because the SDK keeps one aiohttp session per process, bound to the loop that
made it.
Completion is read from the store with a deadline; figures use the completion time the host records.
On Azurite those reads are tallied apart from the host's own storage requests (label "probe").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import azure.durable_functions as df

from durable_ext.config import StorageProviderSettings
from durable_ext.engine.status import InstanceState, RuntimeStatus
from durable_ext.host import DurableHost, HostOptions
from durable_ext.store.azure import AzureStorageTaskHubStore
from durable_ext.store.azure.request_count import labelled

from .model import WorkloadTimeout

T = TypeVar("T")
APP_DIR = Path(__file__).resolve().parent / "app"
CONNECTION = "AzureWebJobsStorage"  # the app's storage setting (bench/app names no other)
PROBE = "probe"  # the request label of the harness's own completion polls


@dataclass(frozen=True)
class OurStore:
    """Which task hub our host runs on: the value `AzureWebJobsStorage` gets."""

    key: str  # "embedded" or "azurite": the JSON's store and --store's choices
    label: str  # the table's column: "ours (embedded)", "ours (Azurite)"
    connection_string: str = ""  # "" selects the embedded hub
    min_poll_s: float = 0.0  # completion polls no tighter than this (each one is a request on Azurite)

    @property
    def is_azure(self) -> bool:
        return bool(self.connection_string)


EMBEDDED = OurStore("embedded", "embedded")
AZURITE = "azurite"


def azurite_store(connection_string: str) -> OurStore:
    # 10 ms: a tighter poll would put a request on the emulator every few ms, competing with the host.
    return OurStore(AZURITE, "Azurite", connection_string, min_poll_s=0.01)


class BenchHost:
    """One host with a fresh task hub: `with BenchHost(scratch, "chain10", store) as h: ...`."""

    def __init__(self, scratch: Path, label: str, store: OurStore = EMBEDDED) -> None:
        self.store = store
        self.root = scratch / f"{label}-{uuid.uuid4().hex[:8]}"
        self.hub_name = f"Bench{uuid.uuid4().hex[:12]}"  # a fresh hub on Azurite for every workload
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"bench-host-{label}", daemon=True)
        self._host: DurableHost | None = None
        self._client: df.DurableOrchestrationClient | None = None

    # -- lifetime ------------------------------------------------------------------------------------
    def __enter__(self) -> BenchHost:
        shutil.copytree(APP_DIR, self.root, ignore=shutil.ignore_patterns(".durable", "__pycache__"))
        host_json = self.root / "host.json"
        config = json.loads(host_json.read_text())
        config["extensions"]["durableTask"]["hubName"] = self.hub_name
        host_json.write_text(json.dumps(config))
        # The environment beats local.settings.json, and the first host copied its "" into the environment.
        os.environ[CONNECTION] = self.store.connection_string
        self._thread.start()

        async def boot() -> DurableHost:
            host = DurableHost(HostOptions(script_root=self.root, port=0))
            await host.start()
            return host

        try:
            self._host = self.run(boot(), timeout=60)
        except concurrent.futures.TimeoutError:
            self.dump_tasks("the host did not start within 60 s")
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._host is not None:
                try:
                    self.run(self._host.stop(), timeout=60)
                except concurrent.futures.TimeoutError:
                    self.dump_tasks("the host did not stop within 60 s")
                    raise
                if self.store.is_azure:
                    self.run(self._delete_hub(), timeout=60)
        finally:
            self._host = None
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def dump_tasks(self, why: str) -> None:
        """Where each task of the host's loop is waiting, on stderr: what a hang looks like from inside."""
        tasks = asyncio.all_tasks(self.loop)  # read from this thread: a snapshot is enough here
        print(f"\n{why}; its loop has {len(tasks)} tasks:", file=sys.stderr)
        for task in tasks:
            task.print_stack(limit=12, file=sys.stderr)

    async def _delete_hub(self) -> None:
        """Azurite keeps everything in memory for the whole run: drop what this workload wrote."""
        store = AzureStorageTaskHubStore(
            self.store.connection_string,
            hub_name=self.hub_name,
            settings=StorageProviderSettings(),
            client_only=True,
        )
        try:
            with labelled(PROBE):
                await store.delete_task_hub()
        finally:
            await store.close()

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
        """Poll the store until the instance reaches a wanted status (Failed etc. raise at once).

        A wait for an end state waits as the HTTP API's start with `timeout` does: woken by the host the
        moment it commits the end, as the peers' clients are (a poll every second is only a fallback)."""
        if all(status.is_terminal for status in wanted):
            with labelled(PROBE):
                ended = await self.host.client.wait_for_terminal(
                    instance_id, max(0.0, deadline - time.monotonic()), interval=1.0
                )
            if ended is None:
                raise WorkloadTimeout(f"instance {instance_id} had not ended at the deadline")
            if ended.runtime_status not in wanted:
                raise RuntimeError(
                    f"instance {instance_id} ended {ended.runtime_status.value}: {(ended.output or '')[:300]}"
                )
            return ended
        interval = max(interval, self.store.min_poll_s)
        while True:
            with labelled(PROBE):
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

    async def wait_completed(self, instance_ids: Sequence[str], deadline: float) -> list[InstanceState]:
        """Wait for every instance, in order (one store read per poll), until the deadline."""
        done: list[InstanceState] = []
        for index, instance_id in enumerate(instance_ids):
            try:
                done.append(await self.wait_status(instance_id, COMPLETED, deadline))
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
