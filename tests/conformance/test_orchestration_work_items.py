"""Orchestration work items: lock, complete (history, row, consumed and outbound messages), abandon,
deferred and delayed messages."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from durable_ext.engine.history import EventType
from durable_ext.engine.status import InstanceState, RuntimeStatus
from durable_ext.store.base import OrchestrationWorkItem, TaskHubStore

from .builders import (
    activity_result,
    commit,
    delivered,
    episode,
    event_raised_event,
    execution_started,
    lock_all_orchestrations,
    pending,
    raise_event,
    run_first_episode,
    schedule_activity,
    start,
    start_message,
    task_scheduled_event,
    with_status,
)
from .conftest import FakeClock


async def _lock(store: TaskHubStore, instance_id: str) -> OrchestrationWorkItem:
    item = await store.lock_next_orchestration()
    assert item is not None, f"expected a work item for {instance_id!r}"
    assert item.instance_id == instance_id
    return item


async def _started_and_locked(
    store: TaskHubStore, clock: FakeClock, instance_id: str = "order-1"
) -> tuple[InstanceState, OrchestrationWorkItem]:
    instance = await start(store, pending(instance_id, clock.now()))
    return instance, await _lock(store, instance_id)


# -- complete_orchestration ------------------------------------------------------------------------
async def test_complete_appends_the_history_in_order(store: TaskHubStore, clock: FakeClock) -> None:
    instance, item = await _started_and_locked(store, clock)
    history = episode(clock.now(), execution_started(instance), task_scheduled_event(0))

    await store.complete_orchestration(
        item, commit(with_status(instance, RuntimeStatus.RUNNING, clock.now()), history)
    )

    assert await store.get_history("order-1") == history


async def test_later_episodes_append_after_the_stored_history(store: TaskHubStore, clock: FakeClock) -> None:
    instance = await start(store, pending("order-1", clock.now()))
    running = await run_first_episode(store, instance, RuntimeStatus.RUNNING, clock.now())
    first = await store.get_history("order-1")
    await store.send_messages([raise_event("order-1", "Approval", "true")])
    clock.advance(1)
    item = await _lock(store, "order-1")
    assert item.history == first
    second = episode(clock.now(), event_raised_event("Approval", "true"))

    await store.complete_orchestration(item, commit(running, second))

    assert await store.get_history("order-1") == first + second


async def test_complete_updates_the_instance_row(store: TaskHubStore, clock: FakeClock) -> None:
    instance, item = await _started_and_locked(store, clock)
    clock.advance(2)
    done = with_status(instance, RuntimeStatus.COMPLETED, clock.now(), output='"Hello Tokyo!"')

    await store.complete_orchestration(item, commit(done, episode(clock.now(), execution_started(instance))))

    assert await store.get_instance("order-1") == done


async def test_complete_deletes_the_consumed_messages(store: TaskHubStore, clock: FakeClock) -> None:
    instance, item = await _started_and_locked(store, clock)

    running = with_status(instance, RuntimeStatus.RUNNING, clock.now())
    await store.complete_orchestration(
        item, commit(running, episode(clock.now(), execution_started(instance)))
    )

    assert await store.lock_next_orchestration() is None
    clock.advance(3600)
    assert await store.lock_next_orchestration() is None


async def test_a_commit_without_instance_still_deletes_the_consumed_messages(
    store: TaskHubStore, clock: FakeClock
) -> None:
    await store.send_messages([raise_event("ghost")])
    item = await _lock(store, "ghost")

    await store.complete_orchestration(item, commit(None))

    assert await store.lock_next_orchestration() is None
    assert await store.get_instance("ghost") is None
    assert await store.get_history("ghost") == []


async def test_a_scheduled_task_becomes_an_activity_work_item(store: TaskHubStore, clock: FakeClock) -> None:
    instance, item = await _started_and_locked(store, clock)
    running = with_status(instance, RuntimeStatus.RUNNING, clock.now())
    scheduled = schedule_activity(instance, event_id=0)

    await store.complete_orchestration(
        item, commit(running, episode(clock.now(), execution_started(instance), scheduled.event), [scheduled])
    )

    assert await store.lock_next_orchestration() is None
    work = await store.lock_next_activity()
    assert work is not None
    assert (work.instance_id, work.execution_id, work.event) == delivered([scheduled])[0]
    assert work.dequeue_count == 1


async def test_other_outbound_messages_go_to_their_target_control_queue(
    store: TaskHubStore, clock: FakeClock
) -> None:
    parent, item = await _started_and_locked(store, clock, "parent")
    child = pending("parent:0001", clock.now(), execution_id="child-exec")
    outbound = [start_message(child), raise_event("other", "Ping", '"from parent"')]

    running = with_status(parent, RuntimeStatus.RUNNING, clock.now())
    await store.complete_orchestration(item, commit(running, episode(clock.now()), outbound))

    items = {i.instance_id: i for i in await lock_all_orchestrations(store)}
    assert sorted(items) == ["other", "parent:0001"]
    assert delivered(items["parent:0001"].messages) == delivered([start_message(child)])
    assert delivered(items["other"].messages) == delivered([outbound[1]])
    assert await store.lock_next_activity() is None


async def test_replaces_history_replaces_the_whole_history(store: TaskHubStore, clock: FakeClock) -> None:
    instance = await start(store, pending("order-1", clock.now()))
    await run_first_episode(store, instance, RuntimeStatus.RUNNING, clock.now())
    await store.send_messages([raise_event("order-1")])
    clock.advance(1)
    item = await _lock(store, "order-1")
    assert len(item.history) == 3
    renewed = with_status(
        pending("order-1", clock.now(), execution_id="exec-2"), RuntimeStatus.RUNNING, clock.now()
    )
    new_history = episode(clock.now(), execution_started(renewed))

    await store.complete_orchestration(item, commit(renewed, new_history, replaces_history=True))

    assert await store.get_history("order-1") == new_history
    assert await store.get_instance("order-1") == renewed


async def test_history_appended_after_a_replacement_follows_it(store: TaskHubStore, clock: FakeClock) -> None:
    instance = await start(store, pending("order-1", clock.now()))
    running = await run_first_episode(store, instance, RuntimeStatus.RUNNING, clock.now())
    await store.send_messages([raise_event("order-1")])
    item = await _lock(store, "order-1")
    short = [execution_started(running)]
    await store.complete_orchestration(item, commit(running, short, replaces_history=True))
    await store.send_messages([raise_event("order-1", "Second", "2")])
    item = await _lock(store, "order-1")
    assert item.history == short
    more = episode(clock.now(), event_raised_event("Second", "2"))

    await store.complete_orchestration(item, commit(running, more))

    assert await store.get_history("order-1") == short + more


# -- locks ------------------------------------------------------------------------------------------
async def test_a_locked_instance_is_not_locked_again(store: TaskHubStore, clock: FakeClock) -> None:
    await _started_and_locked(store, clock)
    await store.send_messages([raise_event("order-1")])

    assert await store.lock_next_orchestration() is None


async def test_other_instances_are_locked_while_one_is_locked(store: TaskHubStore, clock: FakeClock) -> None:
    await start(store, pending("a", clock.now()))
    await start(store, pending("b", clock.now()))
    await start(store, pending("c", clock.now()))

    items = await lock_all_orchestrations(store)

    assert sorted(i.instance_id for i in items) == ["a", "b", "c"]


async def test_concurrent_locks_never_hand_out_the_same_instance(
    store: TaskHubStore, clock: FakeClock
) -> None:
    await start(store, pending("a", clock.now()))
    await start(store, pending("b", clock.now()))

    items = await asyncio.gather(*(store.lock_next_orchestration() for _ in range(4)))

    assert sorted(i.instance_id for i in items if i is not None) == ["a", "b"]


async def test_messages_arriving_during_the_lock_come_with_the_next_lock(
    store: TaskHubStore, clock: FakeClock
) -> None:
    instance, item = await _started_and_locked(store, clock)
    late = [raise_event("order-1", "First", "1"), raise_event("order-1", "Second", "2")]
    await store.send_messages(late)

    running = with_status(instance, RuntimeStatus.RUNNING, clock.now())
    await store.complete_orchestration(
        item, commit(running, episode(clock.now(), execution_started(instance)))
    )

    again = await _lock(store, "order-1")
    assert delivered(again.messages) == delivered(late)
    assert again.instance == running


async def test_an_activity_result_arriving_during_the_lock_is_kept(
    store: TaskHubStore, clock: FakeClock
) -> None:
    instance = await start(store, pending("order-1", clock.now()))
    running = with_status(instance, RuntimeStatus.RUNNING, clock.now())
    item = await _lock(store, "order-1")
    scheduled = schedule_activity(instance, event_id=0)
    await store.complete_orchestration(
        item, commit(running, episode(clock.now(), execution_started(instance), scheduled.event), [scheduled])
    )
    await store.send_messages([raise_event("order-1")])
    clock.advance(1)  # an activity is outstanding: a store may hold the instance back briefly (fan-in)
    item = await _lock(store, "order-1")
    work = await store.lock_next_activity()
    assert work is not None

    await store.complete_activity(work, activity_result(work))
    await store.complete_orchestration(
        item, commit(running, episode(clock.now(), event_raised_event("Approval", "true")))
    )

    again = await _lock(store, "order-1")
    assert delivered(again.messages) == delivered([activity_result(work)])


# -- deferred ---------------------------------------------------------------------------------------
@pytest.mark.advances_clock
async def test_deferred_messages_are_kept_and_come_back_later(store: TaskHubStore, clock: FakeClock) -> None:
    instance = await start(store, pending("order-1", clock.now()))
    running = await run_first_episode(store, instance, RuntimeStatus.RUNNING, clock.now())
    early = raise_event("order-1", "Early", "1")
    applied = raise_event("order-1", "Applied", "2")
    await store.send_messages([early, applied])
    item = await _lock(store, "order-1")
    deferred = [m for m in item.messages if m.event.name == "Early"]

    await store.complete_orchestration(
        item, commit(running, episode(clock.now(), applied.event), deferred=deferred)
    )

    assert await store.lock_next_orchestration() is None
    clock.advance(10)
    again = await _lock(store, "order-1")
    assert delivered(again.messages) == delivered([early])


# -- abandon ----------------------------------------------------------------------------------------
@pytest.mark.advances_clock
async def test_abandoned_messages_come_back_after_the_delay(store: TaskHubStore, clock: FakeClock) -> None:
    instance, item = await _started_and_locked(store, clock)

    await store.abandon_orchestration(item, delay_seconds=5.0)

    assert await store.lock_next_orchestration() is None
    clock.advance(4)
    assert await store.lock_next_orchestration() is None
    clock.advance(1.5)
    again = await _lock(store, "order-1")
    assert delivered(again.messages) == delivered([start_message(instance)])
    assert again.history == []


@pytest.mark.advances_clock
async def test_abandon_does_not_let_later_messages_overtake_the_abandoned_ones(
    store: TaskHubStore, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    instance, item = await _started_and_locked(store, clock)
    event = raise_event("order-1")
    await store.send_messages([event])

    await store.abandon_orchestration(item, delay_seconds=5.0)

    # Either the instance is held back until the retry, or its next batch starts with the retried start.
    batch = await store.lock_next_orchestration()
    if batch is None:
        clock.advance(5.5)
        batch = await _lock(store, "order-1")
    assert delivered(batch.messages) == delivered([start_message(instance), event])


async def test_abandon_writes_nothing(store: TaskHubStore, clock: FakeClock) -> None:
    instance, item = await _started_and_locked(store, clock)

    await store.abandon_orchestration(item, delay_seconds=0)

    assert await store.get_instance("order-1") == instance
    assert await store.get_history("order-1") == []
    again = await _lock(store, "order-1")
    assert delivered(again.messages) == delivered([start_message(instance)])


# -- delayed messages ---------------------------------------------------------------------------------
@pytest.mark.advances_clock
async def test_a_delayed_message_is_not_delivered_before_its_time(
    store: TaskHubStore, clock: FakeClock
) -> None:
    fire_at = clock.now() + timedelta(seconds=30)

    await store.send_messages([raise_event("order-1", visible_at=fire_at)])

    assert await store.lock_next_orchestration() is None
    clock.advance(29)
    assert await store.lock_next_orchestration() is None


@pytest.mark.advances_clock
async def test_next_visible_time_reports_the_earliest_delayed_message(
    store: TaskHubStore, clock: FakeClock
) -> None:
    soon = clock.now() + timedelta(seconds=30)
    later = clock.now() + timedelta(minutes=10)

    await store.send_messages([raise_event("a", visible_at=later), raise_event("b", visible_at=soon)])

    assert await store.next_visible_time() == soon


@pytest.mark.advances_clock
async def test_a_delayed_message_is_delivered_once_the_clock_reaches_it(
    store: TaskHubStore, clock: FakeClock
) -> None:
    fire_at = clock.now() + timedelta(seconds=30)
    message = raise_event("order-1", visible_at=fire_at)
    await store.send_messages([message])

    clock.advance(30)

    item = await _lock(store, "order-1")
    assert delivered(item.messages) == delivered([message])
    assert await store.next_visible_time() is None


@pytest.mark.advances_clock
async def test_a_delayed_message_does_not_hold_back_visible_ones(
    store: TaskHubStore, clock: FakeClock
) -> None:
    timer = raise_event("order-1", "Timer", "1", visible_at=clock.now() + timedelta(seconds=30))
    now = raise_event("order-1", "Now", "2")
    await store.send_messages([timer, now])

    item = await _lock(store, "order-1")

    assert delivered(item.messages) == delivered([now])
    assert await store.next_visible_time() == timer.visible_at


@pytest.mark.advances_clock
async def test_a_delayed_outbound_message_of_a_commit_waits_for_its_time(
    store: TaskHubStore, clock: FakeClock
) -> None:
    instance, item = await _started_and_locked(store, clock)
    fire_at = clock.now() + timedelta(hours=1)
    timer = raise_event("order-1", "Timer", "1", visible_at=fire_at)
    running = with_status(instance, RuntimeStatus.RUNNING, clock.now())

    await store.complete_orchestration(item, commit(running, episode(clock.now()), [timer]))

    assert await store.lock_next_orchestration() is None
    assert await store.next_visible_time() == fire_at
    clock.advance(3600)
    again = await _lock(store, "order-1")
    assert [m.event.event_type for m in again.messages] == [EventType.EVENT_RAISED]


async def test_a_message_a_commit_sends_to_its_own_instance_comes_with_the_next_lock(
    store: TaskHubStore, clock: FakeClock
) -> None:
    instance, item = await _started_and_locked(store, clock)
    renewed = pending("order-1", clock.now(), execution_id="exec-2")
    continued = with_status(instance, RuntimeStatus.CONTINUED_AS_NEW, clock.now())

    await store.complete_orchestration(
        item, commit(continued, episode(clock.now(), execution_started(instance)), [start_message(renewed)])
    )

    again = await _lock(store, "order-1")
    assert delivered(again.messages) == delivered([start_message(renewed)])
    assert again.instance == continued


async def test_large_and_unicode_payloads_round_trip(store: TaskHubStore, clock: FakeClock) -> None:
    big = '"' + "é✓𝄞 " * 40_000 + '"'  # ~400 KB of JSON text, beyond any single queue message or table cell
    instance = replace(pending("zoë/订单-1", clock.now()), input=big)
    await store.start_orchestration(instance, start_message(instance))
    item = await _lock(store, "zoë/订单-1")
    assert delivered(item.messages) == delivered([start_message(instance)])
    done = with_status(instance, RuntimeStatus.COMPLETED, clock.now(), output=big)
    history = episode(clock.now(), execution_started(instance), raise_event("zoë/订单-1", input=big).event)

    await store.complete_orchestration(item, commit(done, history, [raise_event("other", input=big)]))

    assert await store.get_instance("zoë/订单-1") == done
    assert await store.get_history("zoë/订单-1") == history
    other = await _lock(store, "other")
    assert other.messages[0].event.input == big
