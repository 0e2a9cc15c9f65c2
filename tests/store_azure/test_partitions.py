"""Several workers on one hub: the table partition manager splits the control queues between them, hands
them over gracefully, and takes over those of a worker that stopped renewing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone

from durable_ext.engine.history import EventType, HistoryEvent
from durable_ext.engine.messages import TaskMessage
from durable_ext.engine.orchestration import EpisodeCommit
from durable_ext.store.azure import AzureStorageTaskHubStore, LeaseTimings
from durable_ext.store.azure.naming import partition_index

from .conftest import StoreMaker

FAST = LeaseTimings(
    acquire_interval=0.2,
    lease_interval=1.5,
    claim_interval=1.5,
    busy_interval=0.1,
    drain_timeout=10.0,
    operation_timeout=2.0,
)


async def eventually(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until `condition` held; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def instance_on(partition: int, prefix: str = "inst") -> str:
    return next(f"{prefix}-{i}" for i in range(1000) if partition_index(f"{prefix}-{i}", 4) == partition)


def event(name: str) -> HistoryEvent:
    return HistoryEvent(
        EventType.EVENT_RAISED, timestamp=datetime.now(timezone.utc).isoformat(), name=name, input="1"
    )


async def open_worker(make: StoreMaker, worker_id: str) -> AzureStorageTaskHubStore:
    store = make(worker_id=worker_id, lease_timings=FAST)
    await store.open()
    return store


async def lock_all(store: AzureStorageTaskHubStore) -> list[str]:
    ids = []
    while (item := await store.lock_next_orchestration()) is not None:
        ids.append(item.instance_id)
        await store.complete_orchestration(item, EpisodeCommit(None, [], False, []))
    return sorted(ids)


async def test_two_workers_split_four_partitions_and_take_over_on_close(make_store: StoreMaker) -> None:
    a = await open_worker(make_store, "worker-a")
    b: AzureStorageTaskHubStore | None = None
    try:
        queues = a.queues.control_names
        assert a.partitions.readable() == queues  # alone, it owns everything at once

        b = second = await open_worker(make_store, "worker-b")
        await eventually(
            lambda: len(a.partitions.readable()) == 2 and len(second.partitions.readable()) == 2,
            10,
            "an even split",
        )
        assert sorted(a.partitions.readable() + b.partitions.readable()) == queues

        # Each worker only reads its own control queues.
        ids = [instance_on(p) for p in range(4)]
        await a.send_messages([TaskMessage(i, event("E")) for i in ids])
        mine_a = sorted(i for i in ids if a.queues.control_queue_of(i) in a.partitions.readable())
        mine_b = sorted(i for i in ids if a.queues.control_queue_of(i) in b.partitions.readable())
        assert await lock_all(a) == mine_a
        assert await lock_all(b) == mine_b

        await b.close()
        b = None
        took = await eventually(
            lambda: a.partitions.readable() == queues, FAST.lease_interval, "the takeover"
        )
        assert took < FAST.lease_interval
    finally:
        if b is not None:
            await b.close()
        await a.close()


async def test_a_worker_that_stops_renewing_loses_its_partitions_after_the_lease(
    make_store: StoreMaker,
) -> None:
    a = await open_worker(make_store, "worker-a")
    b = await open_worker(make_store, "worker-b")
    try:
        await eventually(lambda: len(b.partitions.readable()) == 2, 10, "worker-b's share")
        orphaned = b.partitions.readable()
        stranded = instance_on(a.queues.control_names.index(orphaned[0]))
        await a.send_messages([TaskMessage(stranded, event("Stranded"))])

        await b.partitions.stop(release=False)  # a crash: the rows stay owned until they expire

        took = await eventually(
            lambda: a.partitions.readable() == a.queues.control_names,
            FAST.lease_interval + 3 * FAST.acquire_interval + 1.0,
            "worker-a to claim the expired rows",
        )
        assert took <= FAST.lease_interval + 3 * FAST.acquire_interval + 1.0
        assert stranded in await lock_all(a)
    finally:
        await b.close()
        await a.close()


async def test_a_partition_is_handed_over_only_after_its_episodes_finish(make_store: StoreMaker) -> None:
    a = await open_worker(make_store, "worker-a")
    b: AzureStorageTaskHubStore | None = None
    try:
        busy_id = instance_on(0)
        await a.send_messages([TaskMessage(busy_id, event("Busy"))])
        item = await a.lock_next_orchestration()
        assert item is not None and item.instance_id == busy_id
        busy_queue = a.queues.control_names[0]

        b = await open_worker(make_store, "worker-b")  # asks for control-00 and control-01
        second = b
        await eventually(lambda: len(second.partitions.readable()) == 1, 10, "the idle partition's hand-over")
        await asyncio.sleep(5 * FAST.acquire_interval)
        assert busy_queue not in second.partitions.readable()  # still draining on worker-a
        assert busy_queue not in a.partitions.readable()  # ... which reads no more of it

        await a.complete_orchestration(item, EpisodeCommit(None, [], False, []))
        await eventually(lambda: busy_queue in second.partitions.readable(), 5, "the drained partition")
        assert sorted(a.partitions.readable() + second.partitions.readable()) == a.queues.control_names
    finally:
        if b is not None:
            await b.close()
        await a.close()


async def test_stop_ends_the_lease_loop_when_a_pass_swallows_the_cancellation(make_store: StoreMaker) -> None:
    """Python 3.11's `wait_for` returns the result of a pass that finished in the same turn as the
    cancellation, dropping the cancellation: stop() used to wait for the loop forever (a CI run hung)."""
    store = await open_worker(make_store, "worker-a")
    manager = store.partitions
    real_pass = manager._pass
    stopping: list[asyncio.Task[None]] = []

    async def pass_then_stop() -> None:
        await real_pass()
        if not stopping:  # stop() cancels the loop in the next turn, just as this pass is done
            stopping.append(asyncio.ensure_future(manager.stop(release=False)))

    manager._pass = pass_then_stop  # type: ignore[method-assign]
    try:
        await eventually(lambda: bool(stopping), 5, "a pass of the lease loop")
        done, _ = await asyncio.wait(stopping, timeout=5)  # not wait_for: it would cancel stop() itself
        assert done, "stop() still waits for the lease loop"
    finally:
        await store.close()
