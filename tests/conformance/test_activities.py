"""Activity work items: lock once, complete (delete + respond atomically), abandon with a delay."""

from __future__ import annotations

import asyncio

import pytest

from durable_ext.engine.status import InstanceState, RuntimeStatus
from durable_ext.store.base import ActivityWorkItem, TaskHubStore

from .builders import (
    activity_result,
    commit,
    delivered,
    episode,
    execution_started,
    pending,
    schedule_activity,
    start,
    with_status,
)
from .conftest import FakeClock


def _instance(clock: FakeClock, instance_id: str = "order-1") -> InstanceState:
    return pending(instance_id, clock.now())


async def _lock_activity(store: TaskHubStore) -> ActivityWorkItem:
    item = await store.lock_next_activity()
    assert item is not None, "expected an activity work item"
    return item


async def test_a_sent_task_scheduled_message_is_an_activity_work_item(
    store: TaskHubStore, clock: FakeClock
) -> None:
    scheduled = schedule_activity(_instance(clock), event_id=3, name="Charge")

    await store.send_messages([scheduled])

    item = await _lock_activity(store)
    assert (item.instance_id, item.execution_id, item.event) == delivered([scheduled])[0]
    assert item.dequeue_count == 1
    assert await store.lock_next_orchestration() is None


async def test_a_locked_activity_is_not_handed_out_again(store: TaskHubStore, clock: FakeClock) -> None:
    await store.send_messages([schedule_activity(_instance(clock), event_id=0)])
    await _lock_activity(store)

    assert await store.lock_next_activity() is None


async def test_two_locks_take_two_different_activities(store: TaskHubStore, clock: FakeClock) -> None:
    instance = _instance(clock)
    await store.send_messages([schedule_activity(instance, 0, "A"), schedule_activity(instance, 1, "B")])

    first = await _lock_activity(store)
    second = await _lock_activity(store)

    assert {first.event.event_id, second.event.event_id} == {0, 1}
    assert await store.lock_next_activity() is None


async def test_concurrent_locks_never_hand_out_the_same_activity(
    store: TaskHubStore, clock: FakeClock
) -> None:
    instance = _instance(clock)
    await store.send_messages([schedule_activity(instance, i) for i in range(3)])

    items = await asyncio.gather(*(store.lock_next_activity() for _ in range(5)))

    assert sorted(i.event.event_id for i in items if i is not None) == [0, 1, 2]


async def test_complete_activity_deletes_the_work_item_and_delivers_the_result(
    store: TaskHubStore, clock: FakeClock
) -> None:
    await store.send_messages([schedule_activity(_instance(clock), event_id=0)])
    item = await _lock_activity(store)
    result = activity_result(item, '"Hello Tokyo!"')

    await store.complete_activity(item, result)

    clock.advance(3600)
    assert await store.lock_next_activity() is None
    orchestration = await store.lock_next_orchestration()
    assert orchestration is not None
    assert orchestration.instance_id == "order-1"
    assert delivered(orchestration.messages) == delivered([result])


async def test_complete_activity_leaves_other_activities_alone(store: TaskHubStore, clock: FakeClock) -> None:
    instance = _instance(clock)
    await store.send_messages([schedule_activity(instance, 0, "A"), schedule_activity(instance, 1, "B")])
    first = await _lock_activity(store)

    await store.complete_activity(first, activity_result(first))

    second = await _lock_activity(store)
    assert second.event.event_id != first.event.event_id


@pytest.mark.advances_clock
async def test_an_abandoned_activity_comes_back_after_the_delay(
    store: TaskHubStore, clock: FakeClock
) -> None:
    scheduled = schedule_activity(_instance(clock), event_id=0)
    await store.send_messages([scheduled])
    item = await _lock_activity(store)

    await store.abandon_activity(item, delay_seconds=10.0)

    assert await store.lock_next_activity() is None
    clock.advance(9)
    assert await store.lock_next_activity() is None
    clock.advance(1.5)
    again = await _lock_activity(store)
    assert (again.instance_id, again.execution_id, again.event) == delivered([scheduled])[0]
    assert again.dequeue_count == item.dequeue_count + 1


@pytest.mark.advances_clock
async def test_dequeue_count_grows_with_each_abandon(store: TaskHubStore, clock: FakeClock) -> None:
    await store.send_messages([schedule_activity(_instance(clock), event_id=0)])
    counts = []
    for _ in range(3):
        item = await _lock_activity(store)
        counts.append(item.dequeue_count)
        await store.abandon_activity(item, delay_seconds=1.0)
        clock.advance(2)

    assert counts == [1, 2, 3]


async def test_an_abandoned_activity_delivers_nothing_to_the_orchestration(
    store: TaskHubStore, clock: FakeClock
) -> None:
    await store.send_messages([schedule_activity(_instance(clock), event_id=0)])
    item = await _lock_activity(store)

    await store.abandon_activity(item, delay_seconds=0)

    assert await store.lock_next_orchestration() is None
    assert await store.get_instance("order-1") is None
    assert (await _lock_activity(store)).event == item.event


async def test_activity_results_reach_the_instance_that_scheduled_them(
    store: TaskHubStore, clock: FakeClock
) -> None:
    instance = await start(store, _instance(clock))
    item = await store.lock_next_orchestration()
    assert item is not None
    scheduled = schedule_activity(instance, event_id=0)
    running = with_status(instance, RuntimeStatus.RUNNING, clock.now())
    history = episode(clock.now(), execution_started(instance), scheduled.event)
    await store.complete_orchestration(item, commit(running, history, [scheduled]))
    work = await _lock_activity(store)

    await store.complete_activity(work, activity_result(work))

    again = await store.lock_next_orchestration()
    assert again is not None
    assert again.instance == running
    assert again.history == history
    assert delivered(again.messages) == delivered([activity_result(work)])
