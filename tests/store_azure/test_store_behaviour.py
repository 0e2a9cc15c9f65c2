"""Azure-specific store behaviour beyond the conformance suite: checkpoint batches, early messages
(the 7-day visibility cap), the activity fast path, client-only stores, entity listings, purge of blobs."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timedelta, timezone

from azure.data.tables.aio import TableServiceClient
from azure.storage.queue.aio import QueueServiceClient

from durable_ext.config import StorageProviderSettings
from durable_ext.engine.history import EventType, HistoryEvent, format_timestamp
from durable_ext.engine.messages import TaskMessage
from durable_ext.engine.orchestration import EpisodeCommit
from durable_ext.engine.status import InstanceState, RuntimeStatus
from durable_ext.store.azure import AzureStorageTaskHubStore
from durable_ext.store.azure.envelope import Envelope, encode
from durable_ext.store.base import InstanceQuery
from tests.conformance.conftest import FakeClock

from .conftest import SHORT_LEASE, StoreMaker, opened
from .test_layout import control_queue

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def state(instance_id: str, status: RuntimeStatus = RuntimeStatus.RUNNING) -> InstanceState:
    return InstanceState(
        instance_id=instance_id,
        name="Orch",
        execution_id="e1",
        runtime_status=status,
        created_time=NOW,
        last_updated_time=NOW,
    )


def started(instance_id: str) -> HistoryEvent:
    return HistoryEvent(
        EventType.EXECUTION_STARTED,
        timestamp=format_timestamp(NOW),
        name="Orch",
        version="",
        instance_id=instance_id,
        execution_id="e1",
    )


async def test_a_long_episode_is_written_in_batches_of_99_plus_the_sentinel(
    make_store: StoreMaker, azurite: str, hub_name: str
) -> None:
    events = [started("long")] + [
        HistoryEvent(EventType.TASK_SCHEDULED, event_id=i, name="A", is_played=True) for i in range(249)
    ]
    async with opened(make_store) as store:
        await store.send_messages([TaskMessage("long", started("long"), execution_id="e1")])
        item = await store.lock_next_orchestration()
        assert item is not None
        await store.complete_orchestration(item, EpisodeCommit(state("long"), events, True, []))
        assert await store.get_history("long") == events

    async with TableServiceClient.from_connection_string(azurite) as tables:
        rows = [r async for r in tables.get_table_client(f"{hub_name}History").list_entities()]
    assert len(rows) == 251
    sentinel = next(r for r in rows if r["RowKey"] == "sentinel")
    assert sentinel["IsCheckpointComplete"] is True and sentinel["ExecutionId"] == "e1"


async def test_a_shorter_new_execution_hides_the_rows_of_the_old_one(make_store: StoreMaker) -> None:
    async with opened(make_store) as store:
        await store.send_messages([TaskMessage("can", started("can"), execution_id="e1")])
        item = await store.lock_next_orchestration()
        assert item is not None
        long = [started("can")] + [HistoryEvent(EventType.TIMER_CREATED, event_id=i) for i in range(5)]
        await store.complete_orchestration(item, EpisodeCommit(state("can"), long, True, []))
        await store.send_messages([TaskMessage("can", HistoryEvent(EventType.EVENT_RAISED, name="x"))])
        item = await store.lock_next_orchestration()
        assert item is not None and item.history == long
        renewed = HistoryEvent(EventType.EXECUTION_STARTED, version="", instance_id="can", execution_id="e2")
        await store.complete_orchestration(
            item,
            EpisodeCommit(
                InstanceState("can", "Orch", "e2", RuntimeStatus.RUNNING, NOW, NOW), [renewed], True, []
            ),
        )
        assert await store.get_history("can") == [renewed]


async def test_a_message_arriving_before_it_is_due_waits_for_its_time(
    make_store: StoreMaker, azurite: str, hub_name: str
) -> None:
    """A timer past the queue's 7-day cap is enqueued for 7 days and put back when it arrives early."""
    clock = FakeClock(NOW)
    fire_at = NOW + timedelta(days=9)
    fired = HistoryEvent(
        EventType.TIMER_FIRED, timestamp=format_timestamp(NOW), timer_id=0, fire_at=format_timestamp(fire_at)
    )
    async with opened(make_store, clock=clock) as store:
        # As another host would send it once the 7 days are over: visible now, due in 2 more days.
        async with QueueServiceClient.from_connection_string(azurite) as queues:
            body = encode(Envelope.new(TaskMessage("t", fired, execution_id="e1")))
            await queues.get_queue_client(control_queue(hub_name, "t")).send_message(body)

        assert await store.lock_next_orchestration() is None
        assert await store.next_visible_time() == fire_at
        clock.advance(timedelta(days=9).total_seconds())
        item = await store.lock_next_orchestration()
        assert item is not None and item.messages[0].event == fired


async def test_delays_beyond_seven_days_are_capped_on_the_queue(make_store: StoreMaker) -> None:
    clock = FakeClock(NOW)
    fire_at = NOW + timedelta(days=30)
    fired = HistoryEvent(EventType.TIMER_FIRED, timer_id=0, fire_at=format_timestamp(fire_at))
    async with opened(make_store, clock=clock) as store:
        await store.send_messages([TaskMessage("t", fired, execution_id="e1", visible_at=fire_at)])
        assert await store.next_visible_time() == fire_at
        clock.advance(timedelta(days=30).total_seconds())
        item = await store.lock_next_orchestration()
        assert item is not None and item.messages[0].event == fired


async def test_the_activity_fast_path_commits_the_result_and_deletes_the_work_item(
    make_store: StoreMaker,
) -> None:
    async with opened(make_store) as store:
        await store.send_messages([TaskMessage("fast", started("fast"), execution_id="e1")])
        item = await store.lock_next_orchestration()
        assert item is not None
        scheduled = HistoryEvent(EventType.TASK_SCHEDULED, event_id=0, name="A", is_played=True)
        first = [started("fast"), scheduled]
        await store.complete_orchestration(
            item,
            EpisodeCommit(state("fast"), first, True, [TaskMessage("fast", scheduled, execution_id="e1")]),
        )
        work = await store.lock_next_activity()
        assert work is not None
        result = TaskMessage(
            "fast", HistoryEvent(EventType.TASK_COMPLETED, task_scheduled_id=0, result="1"), execution_id="e1"
        )

        item = await store.lock_orchestration_with("fast", [result], work)

        assert item is not None and item.messages == [result]
        assert await store.lock_orchestration_with("fast", [result], work) is None  # busy now
        await store.complete_orchestration(item, EpisodeCommit(state("fast"), [result.event], False, []))
        assert await store.get_history("fast") == [*first, result.event]
        assert await store.lock_next_activity() is None
        assert await store.lock_next_orchestration() is None


async def test_an_abandoned_fast_path_keeps_the_activity_result(make_store: StoreMaker) -> None:
    async with opened(make_store) as store:
        scheduled = HistoryEvent(EventType.TASK_SCHEDULED, event_id=0, name="A", is_played=True)
        await store.send_messages([TaskMessage("keep", scheduled, execution_id="e1")])
        work = await store.lock_next_activity()
        assert work is not None
        result = TaskMessage(
            "keep", HistoryEvent(EventType.TASK_COMPLETED, task_scheduled_id=0, result="1"), execution_id="e1"
        )
        item = await store.lock_orchestration_with("keep", [result], work)
        assert item is not None

        await store.abandon_orchestration(item, delay_seconds=0)

        again = await store.lock_next_orchestration()
        assert again is not None and [m.event for m in again.messages] == [result.event]
        assert await store.lock_next_activity() is None


async def test_a_client_only_store_takes_no_partition_and_no_work(make_store: StoreMaker) -> None:
    async with (
        opened(make_store, worker_id="worker") as worker,
        opened(make_store, client_only=True) as client,
    ):
        await client.send_messages([TaskMessage("c", HistoryEvent(EventType.EVENT_RAISED, name="x"))])
        assert await client.lock_next_orchestration() is None
        assert await client.lock_next_activity() is None
        item = await worker.lock_next_orchestration()
        assert item is not None and item.instance_id == "c"
        assert client.partitions.readable() == []


async def test_entity_and_orchestration_listings_are_separate(make_store: StoreMaker) -> None:
    async with opened(make_store) as store:
        for instance_id in ("order-1", "@counter@a", "zeta"):
            message = TaskMessage(instance_id, started(instance_id), execution_id="e1")
            await store.start_orchestration(state(instance_id, RuntimeStatus.PENDING), message)

        orchestrations = await store.query_instances(InstanceQuery())
        entities = await store.query_instances(InstanceQuery(entities=True))

    assert sorted(i.instance_id for i in orchestrations.instances) == ["order-1", "zeta"]
    assert [i.instance_id for i in entities.instances] == ["@counter@a"]


async def test_purge_removes_the_instance_blobs(make_store: StoreMaker) -> None:
    big = json.dumps("x" * 100_000)
    async with opened(make_store) as store:
        instance = InstanceState("big", "Orch", "e1", RuntimeStatus.PENDING, NOW, NOW, input=big)
        start = HistoryEvent(
            EventType.EXECUTION_STARTED, version="", input=big, instance_id="big", execution_id="e1"
        )
        await store.start_orchestration(instance, TaskMessage("big", start, execution_id="e1"))
        names = [b.name async for b in store.blobs.container.list_blobs()]
        assert len(names) == 1 and names[0].startswith("big/message-")

        assert await store.purge_instance("big") == 1

        assert [b.name async for b in store.blobs.container.list_blobs()] == []
        assert await store.lock_next_orchestration() is None


async def test_locks_are_renewed_while_the_work_runs(
    make_store: StoreMaker, azurite: str, hub_name: str
) -> None:
    settings = StorageProviderSettings(
        control_queue_visibility_timeout=3, work_item_queue_visibility_timeout=3
    )
    store = AzureStorageTaskHubStore(azurite, hub_name=hub_name, settings=settings)
    await store.open()
    try:
        scheduled = HistoryEvent(EventType.TASK_SCHEDULED, event_id=0, name="A", is_played=True)
        await store.send_messages(
            [
                TaskMessage("slow", scheduled, execution_id="e1"),
                TaskMessage("slow", started("slow"), execution_id="e1"),
            ]
        )
        work = await store.lock_next_activity()
        item = await store.lock_next_orchestration()
        assert work is not None and item is not None

        await asyncio.sleep(4.5)  # longer than the visibility timeout

        async with QueueServiceClient.from_connection_string(azurite) as queues:
            for queue in (f"{hub_name.lower()}-workitems", control_queue(hub_name, "slow")):
                assert await queues.get_queue_client(queue).peek_messages(5) == []
        await store.complete_activity(
            work,
            TaskMessage(
                "slow", HistoryEvent(EventType.TASK_COMPLETED, task_scheduled_id=0), execution_id="e1"
            ),
        )
        await store.complete_orchestration(item, EpisodeCommit(state("slow"), [started("slow")], True, []))
        async with QueueServiceClient.from_connection_string(azurite) as queues:
            assert await queues.get_queue_client(f"{hub_name.lower()}-workitems").peek_messages(5) == []
    finally:
        await store.close()


async def test_held_messages_stay_hidden_while_held_and_show_soon_after_a_crash(
    azurite: str, hub_name: str, make_store: StoreMaker
) -> None:
    # A 2 s lease: what the worker holds is hidden for 2 s at a time and renewed, not for the 5-minute
    # visibility timeout, so a worker that dies gives its messages back about as fast as its partitions.
    store = make_store(partition_count=1, lease_timings=SHORT_LEASE)
    await store.open()
    queue = control_queue(hub_name, "held", partitions=1)
    async with QueueServiceClient.from_connection_string(azurite) as service:
        client = service.get_queue_client(queue)
        try:
            await store.send_messages([TaskMessage("held", started("held"), execution_id="e1")])
            item = await store.lock_next_orchestration()
            assert item is not None
            raised = HistoryEvent(EventType.EVENT_RAISED, name="later")
            await store.send_messages([TaskMessage("held", raised, execution_id="e1")])
            assert await store.lock_next_orchestration() is None  # the instance is busy: it waits in memory

            await asyncio.sleep(3.5)  # well past one hold
            assert await client.peek_messages(5) == []

            # The worker dies: nothing renews or releases what it holds, nor its lease.
            assert store._renewer is not None
            store._renewer.cancel()
            await store.partitions.stop(release=False)
            deadline = asyncio.get_running_loop().time() + 10
            while len(await client.peek_messages(5)) < 2:
                assert asyncio.get_running_loop().time() < deadline, "held messages never came back"
                await asyncio.sleep(0.1)
        finally:
            store._opened = False  # a crash: close only the clients
            await store.close()


async def test_base64_message_encoding_can_be_chosen(
    azurite: str, make_store: StoreMaker, hub_name: str
) -> None:
    settings = StorageProviderSettings(queue_client_message_encoding="Base64")
    store = AzureStorageTaskHubStore(azurite, hub_name=hub_name, settings=settings)
    client = AzureStorageTaskHubStore(azurite, hub_name=hub_name, settings=settings, client_only=True)
    await store.open()
    await client.open()
    try:
        await client.send_messages([TaskMessage("b64", HistoryEvent(EventType.EVENT_RAISED, name="x"))])
        async with QueueServiceClient.from_connection_string(azurite) as queues:
            peeked = await queues.get_queue_client(control_queue(hub_name, "b64")).peek_messages(1)
        assert (
            json.loads(base64.b64decode(peeked[0].content))["$type"] == "DurableTask.AzureStorage.MessageData"
        )
        item = await store.lock_next_orchestration()
        assert item is not None and item.messages[0].event.name == "x"
    finally:
        await client.close()
        await store.close()
