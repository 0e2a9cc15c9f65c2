"""What the store no longer sends, and why that stays safe: cached histories and rows (reloaded on an
ETag conflict), activities handed over without a receive, results kept in memory with their work item
locked (sent as messages when the worker closes or loses the partition, run again after a crash)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import pytest
from azure.storage.queue.aio import QueueServiceClient

from durable_ext.engine.history import EventType, HistoryEvent, format_timestamp
from durable_ext.engine.messages import TaskMessage
from durable_ext.engine.orchestration import EpisodeCommit
from durable_ext.engine.status import InstanceState, RuntimeStatus
from durable_ext.store.azure import AzureStorageTaskHubStore
from durable_ext.store.azure.history_table import HistoryConflictError
from durable_ext.store.azure.request_count import REQUESTS, labelled
from durable_ext.store.base import OrchestrationWorkItem

from .conftest import SHORT_LEASE, StoreMaker, opened
from .test_layout import control_queue

NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
T = format_timestamp(NOW)
EXEC = "e1"


@asynccontextmanager
async def counting() -> AsyncIterator[dict[str, int]]:
    """The requests the block sends (by "service METHOD"), apart from the stores' background work."""
    label = f"test-{uuid.uuid4().hex}"
    spent: dict[str, int] = {}
    before = REQUESTS.snapshot()
    with labelled(label):
        yield spent
    spent.update((REQUESTS.snapshot() - before).as_dict(label))


def state(instance_id: str, status: RuntimeStatus = RuntimeStatus.RUNNING) -> InstanceState:
    return InstanceState(instance_id, "Orch", EXEC, status, NOW, NOW)


def started(instance_id: str) -> HistoryEvent:
    return HistoryEvent(
        EventType.EXECUTION_STARTED, timestamp=T, name="Orch", version="", instance_id=instance_id,
        execution_id=EXEC,
    )  # fmt: skip


def scheduled(event_id: int) -> HistoryEvent:
    return HistoryEvent(EventType.TASK_SCHEDULED, event_id=event_id, timestamp=T, name="A", is_played=True)


def completed(event_id: int, result: str = "1") -> HistoryEvent:
    return HistoryEvent(EventType.TASK_COMPLETED, timestamp=T, task_scheduled_id=event_id, result=result)


async def lock_within(store: AzureStorageTaskHubStore, seconds: float) -> OrchestrationWorkItem | None:
    """The next orchestration work item, polled for until the deadline (None if none came)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (item := await store.lock_next_orchestration()) is None:
        if asyncio.get_running_loop().time() > deadline:
            return None
        await asyncio.sleep(0.1)
    return item


async def first_episode(store: AzureStorageTaskHubStore, instance_id: str) -> list[HistoryEvent]:
    """Start `instance_id` and run its first episode, which schedules activity 0."""
    await store.send_messages([TaskMessage(instance_id, started(instance_id), execution_id=EXEC)])
    item = await store.lock_next_orchestration()
    assert item is not None and item.instance_id == instance_id
    history = [started(instance_id), scheduled(0)]
    activity = TaskMessage(instance_id, scheduled(0), execution_id=EXEC)
    await store.complete_orchestration(item, EpisodeCommit(state(instance_id), history, True, [activity]))
    return history


async def visible(azurite: str, queue: str) -> int:
    async with QueueServiceClient.from_connection_string(azurite) as service:
        return len(await service.get_queue_client(queue).peek_messages(32))


async def test_a_second_episode_reads_neither_its_history_nor_its_row(make_store: StoreMaker) -> None:
    async with opened(make_store) as store:
        history = await first_episode(store, "second")
        result = TaskMessage("second", completed(0), execution_id=EXEC)

        async with counting() as to_lock:
            work = await store.lock_next_activity()
            assert work is not None
            await store.complete_activity(work, result)
            item = await store.lock_next_orchestration()
        assert item is not None and item.history == history and item.messages == [result]
        assert item.instance == state("second")
        # No History query, no Instances read; the activity was neither received nor its result sent.
        assert not {"table GET", "queue POST"} & set(to_lock)
        assert "queue GET" not in to_lock or to_lock["queue GET"] <= 4  # first looks at idle queues only

        async with counting() as to_commit:
            await store.complete_orchestration(
                item, EpisodeCommit(state("second"), [result.event], False, [])
            )
        # The history batch, the Instances row, and the work item the result came from: nothing else.
        assert to_commit == {"table POST": 1, "table PUT": 1, "queue DELETE": 1}
        assert await store.get_history("second") == [*history, result.event]


async def test_a_history_changed_behind_the_cache_is_reloaded_and_the_episode_retried(
    make_store: StoreMaker,
) -> None:
    async with opened(make_store) as store, opened(make_store, client_only=True) as other:
        history = await first_episode(store, "split")
        # Another writer (a split brain) appends to the history meanwhile.
        loaded = await other.history.load("split")
        behind = HistoryEvent(EventType.EVENT_RAISED, timestamp=T, name="behind", input='"b"')
        await other.history.checkpoint("split", EXEC, 2, [behind], etag=loaded.etag, now=NOW)
        raised = TaskMessage("split", HistoryEvent(EventType.EVENT_RAISED, name="x", input='"x"'))
        await store.send_messages([raised])

        item = await store.lock_next_orchestration()
        assert item is not None and item.history == history  # the cache, not yet knowing
        with pytest.raises(HistoryConflictError):
            await store.complete_orchestration(item, EpisodeCommit(state("split"), [raised.event], False, []))
        await store.abandon_orchestration(item, delay_seconds=0)

        again = await lock_within(store, seconds=5.5)
        assert again is not None and again.history == [*history, behind]
        assert [m.event.name for m in again.messages] == ["x"]
        await store.complete_orchestration(again, EpisodeCommit(state("split"), [raised.event], False, []))
        assert await store.get_history("split") == [*history, behind, raised.event]


async def test_a_scheduled_activity_is_handed_over_hidden_without_a_receive(
    make_store: StoreMaker, azurite: str, hub_name: str
) -> None:
    async with opened(make_store) as store:
        await first_episode(store, "handed")

        async with counting() as spent:
            work = await store.lock_next_activity()

        assert work is not None and work.event == scheduled(0) and work.instance_id == "handed"
        assert spent == {}
        assert await visible(azurite, f"{hub_name.lower()}-workitems") == 0  # in the queue, hidden for us
        assert await store.lock_next_activity() is None


async def test_a_result_in_memory_keeps_its_work_item_until_the_episode_commits(
    make_store: StoreMaker, azurite: str, hub_name: str
) -> None:
    async with opened(make_store) as store:
        await first_episode(store, "kept")
        work = await store.lock_next_activity()
        assert work is not None
        await store.complete_activity(work, TaskMessage("kept", completed(0), execution_id=EXEC))
        assert await visible(azurite, f"{hub_name.lower()}-workitems") == 0
        assert await visible(azurite, control_queue(hub_name, "kept")) == 0

        item = await store.lock_next_orchestration()
        assert item is not None
        await store.complete_orchestration(item, EpisodeCommit(state("kept"), [completed(0)], False, []))

    async with opened(make_store) as restarted:  # the work item is gone, and no result message waits
        assert await restarted.lock_next_activity() is None
        assert await restarted.lock_next_orchestration() is None


async def test_results_in_memory_are_sent_as_messages_when_the_worker_closes(make_store: StoreMaker) -> None:
    async with opened(make_store) as store:
        await first_episode(store, "closing")
        work = await store.lock_next_activity()
        assert work is not None
        await store.complete_activity(work, TaskMessage("closing", completed(0), execution_id=EXEC))

    async with opened(make_store) as restarted:
        assert await restarted.lock_next_activity() is None  # deleted once its result was sent
        item = await restarted.lock_next_orchestration()
        assert item is not None and [m.event for m in item.messages] == [completed(0)]


async def test_a_released_partition_gets_its_results_and_forgets_its_instances(
    make_store: StoreMaker, azurite: str, hub_name: str
) -> None:
    async with opened(make_store) as store:
        await first_episode(store, "moved")
        assert store._cache.get("moved") is not None
        work = await store.lock_next_activity()
        assert work is not None
        await store.complete_activity(work, TaskMessage("moved", completed(0), execution_id=EXEC))

        await store._release_queue(control_queue(hub_name, "moved"))  # the partition goes to another worker

        assert store._cache.get("moved") is None
        assert await visible(azurite, control_queue(hub_name, "moved")) == 1  # the result, for the next owner
        assert await visible(azurite, f"{hub_name.lower()}-workitems") == 0  # its work item deleted


async def test_a_handed_over_activity_shows_again_soon_after_a_crash(
    azurite: str, hub_name: str, make_store: StoreMaker
) -> None:
    store = make_store(partition_count=1, lease_timings=SHORT_LEASE)
    await store.open()
    try:
        await first_episode(store, "crash")
        assert await store.lock_next_activity() is not None
        await asyncio.sleep(3.0)  # past one hold: renewed meanwhile
        assert await visible(azurite, f"{hub_name.lower()}-workitems") == 0

        # The worker dies: nothing renews or releases what it holds.
        assert store._renewer is not None
        store._renewer.cancel()
        await store.partitions.stop(release=False)
        deadline = asyncio.get_running_loop().time() + 10
        while await visible(azurite, f"{hub_name.lower()}-workitems") < 1:
            assert asyncio.get_running_loop().time() < deadline, "the work item never came back"
            await asyncio.sleep(0.1)
    finally:
        store._opened = False  # a crash: close only the clients
        await store.close()


async def test_a_start_this_worker_wrote_is_run_without_reading_it_back(make_store: StoreMaker) -> None:
    async with opened(make_store) as store:
        await store.start_orchestration(
            state("own", RuntimeStatus.PENDING), TaskMessage("own", started("own"), execution_id=EXEC)
        )
        async with counting() as spent:
            item = await store.lock_next_orchestration()
        assert item is not None and item.instance == state("own", RuntimeStatus.PENDING)
        assert item.history == [] and [m.event for m in item.messages] == [started("own")]
        assert "table GET" not in spent
        await store.complete_orchestration(item, EpisodeCommit(state("own"), [started("own")], True, []))
        assert await store.get_instance("own") == state("own")


async def test_a_start_over_a_history_without_a_row_finds_the_history_at_its_first_checkpoint(
    make_store: StoreMaker,
) -> None:
    async with opened(make_store) as store, opened(make_store, client_only=True) as other:
        leftover = [started("left"), scheduled(0)]  # a history whose row is gone (written by hand)
        await other.history.checkpoint("left", EXEC, 0, leftover, etag=None, now=NOW)
        await store.start_orchestration(
            state("left", RuntimeStatus.PENDING), TaskMessage("left", started("left"), execution_id=EXEC)
        )
        item = await store.lock_next_orchestration()
        assert item is not None and item.history == []  # assumed new
        with pytest.raises(HistoryConflictError):
            await store.complete_orchestration(
                item, EpisodeCommit(state("left"), [started("left")], True, [])
            )
        await store.abandon_orchestration(item, delay_seconds=0)
        again = await lock_within(store, seconds=5.5)
        assert again is not None and again.history == leftover


async def test_the_cached_history_is_the_history_a_reload_gives(make_store: StoreMaker) -> None:
    big = "x" * 70_000  # past the table's property limit: stored in a blob
    timer = HistoryEvent(
        EventType.TIMER_CREATED,
        event_id=1,
        timestamp="2024-05-06T07:08:09.1Z",
        fire_at="2024-05-07T00:00:00Z",
    )
    traced = HistoryEvent(
        EventType.TASK_SCHEDULED,
        event_id=2,
        timestamp=T,
        name="B",
        extras={"ParentTraceContext": {"TraceParent": "00-ab-cd-01"}, "Custom": {"a": [1, 2]}, "Big": 2**40},
    )
    async with opened(make_store) as store:
        await first_episode(store, "same")
        work = await store.lock_next_activity()
        assert work is not None
        await store.complete_activity(work, TaskMessage("same", completed(0, big), execution_id=EXEC))
        item = await store.lock_next_orchestration()
        assert item is not None
        events = [*item.messages[0:1]]
        await store.complete_orchestration(
            item, EpisodeCommit(state("same"), [events[0].event, timer, traced], False, [])
        )

        cached = store._cache.get("same")
        assert cached is not None
        assert cached.history.events == (await store.history.load("same")).events
        assert cached.row is not None and cached.row.state == await store.get_instance("same")
