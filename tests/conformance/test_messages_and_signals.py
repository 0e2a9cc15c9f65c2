"""send_messages ordering, and the WorkSignals a store raises when it enqueues work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from durable_ext.engine.status import RuntimeStatus
from durable_ext.store.base import TaskHubStore, WorkSignal

from .builders import (
    activity_result,
    commit,
    delivered,
    episode,
    execution_started,
    lock_all_orchestrations,
    pending,
    raise_event,
    schedule_activity,
    start,
    with_status,
)
from .conftest import FakeClock

# A wait that is not woken lasts this long; the test gives up far sooner.
IDLE_WAIT = 60.0
DEADLINE = 5.0


# -- send_messages ----------------------------------------------------------------------------------
async def test_messages_of_one_instance_come_back_in_send_order(store: TaskHubStore) -> None:
    a = [raise_event("a", f"A{i}", str(i)) for i in range(3)]
    b = [raise_event("b", f"B{i}", str(i)) for i in range(2)]
    c = [raise_event("c", "C0", "0")]

    await store.send_messages([a[0], b[0], a[1], c[0], b[1], a[2]])

    items = {item.instance_id: item for item in await lock_all_orchestrations(store)}
    assert sorted(items) == ["a", "b", "c"]
    assert delivered(items["a"].messages) == delivered(a)
    assert delivered(items["b"].messages) == delivered(b)
    assert delivered(items["c"].messages) == delivered(c)


async def test_order_holds_across_several_sends(store: TaskHubStore) -> None:
    sent = [raise_event("a", f"E{i}", str(i)) for i in range(5)]

    for message in sent:
        await store.send_messages([message])

    item = await store.lock_next_orchestration()
    assert item is not None
    assert delivered(item.messages) == delivered(sent)


async def test_sending_nothing_is_harmless(store: TaskHubStore) -> None:
    await store.send_messages([])

    assert await store.lock_next_orchestration() is None


# -- signals ----------------------------------------------------------------------------------------
async def _woken_by(signal: WorkSignal, action: Awaitable[object]) -> None:
    """`action` must wake a dispatcher already waiting on `signal` (long before IDLE_WAIT)."""
    await signal.wait(0)  # consume earlier notifications (e.g. of the setup's own writes)
    waiter = asyncio.create_task(signal.wait(IDLE_WAIT))
    await asyncio.sleep(0)  # let the waiter start waiting
    assert not waiter.done()
    await action
    await asyncio.wait_for(waiter, DEADLINE)


async def test_send_messages_wakes_the_control_signal(store: TaskHubStore) -> None:
    await _woken_by(store.control_signal, store.send_messages([raise_event("a")]))


async def test_start_orchestration_wakes_the_control_signal(store: TaskHubStore, clock: FakeClock) -> None:
    await _woken_by(store.control_signal, start(store, pending("a", clock.now())))


async def test_sending_an_activity_wakes_the_work_signal(store: TaskHubStore, clock: FakeClock) -> None:
    scheduled = schedule_activity(pending("a", clock.now()), event_id=0)

    await _woken_by(store.work_signal, store.send_messages([scheduled]))


async def test_a_commit_that_schedules_an_activity_wakes_the_work_signal(
    store: TaskHubStore, clock: FakeClock
) -> None:
    instance = await start(store, pending("a", clock.now()))
    item = await store.lock_next_orchestration()
    assert item is not None
    scheduled = schedule_activity(instance, event_id=0)
    running = with_status(instance, RuntimeStatus.RUNNING, clock.now())
    history = episode(clock.now(), execution_started(instance), scheduled.event)

    await _woken_by(
        store.work_signal, store.complete_orchestration(item, commit(running, history, [scheduled]))
    )


async def test_a_commit_that_messages_an_instance_wakes_the_control_signal(
    store: TaskHubStore, clock: FakeClock
) -> None:
    instance = await start(store, pending("a", clock.now()))
    item = await store.lock_next_orchestration()
    assert item is not None
    running = with_status(instance, RuntimeStatus.RUNNING, clock.now())
    outbound = [raise_event("b")]

    await _woken_by(
        store.control_signal,
        store.complete_orchestration(item, commit(running, episode(clock.now()), outbound)),
    )


async def test_completing_an_activity_wakes_the_control_signal(store: TaskHubStore, clock: FakeClock) -> None:
    await store.send_messages([schedule_activity(pending("a", clock.now()), event_id=0)])
    work = await store.lock_next_activity()
    assert work is not None

    await _woken_by(store.control_signal, store.complete_activity(work, activity_result(work)))


async def test_a_signal_raised_before_the_wait_is_not_lost(store: TaskHubStore) -> None:
    await store.send_messages([raise_event("a")])

    await asyncio.wait_for(store.control_signal.wait(IDLE_WAIT), DEADLINE)
