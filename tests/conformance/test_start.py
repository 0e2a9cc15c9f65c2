"""start_orchestration: the Pending row, the ExecutionStarted message, and the overwrite policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from durable_ext.engine.status import RuntimeStatus
from durable_ext.store.base import RUNNING_STATES, InstanceExistsError, TaskHubStore

from .builders import delivered, pending, run_first_episode, start, start_message
from .conftest import FakeClock

TERMINAL = sorted(set(RuntimeStatus) - RUNNING_STATES, key=lambda s: s.value)
NOT_TERMINAL = sorted(RUNNING_STATES - {RuntimeStatus.PENDING}, key=lambda s: s.value)


async def test_start_writes_the_pending_instance_row(store: TaskHubStore, clock: FakeClock) -> None:
    instance = await start(store, pending("order-1", clock.now()))

    assert await store.get_instance("order-1") == instance


async def test_unknown_instance_has_no_row_and_no_history(store: TaskHubStore) -> None:
    assert await store.get_instance("nobody") is None
    assert await store.get_history("nobody") == []


async def test_lock_returns_the_started_instance_with_its_start_message(
    store: TaskHubStore, clock: FakeClock
) -> None:
    instance = await start(store, pending("order-1", clock.now()))

    item = await store.lock_next_orchestration()

    assert item is not None
    assert item.instance_id == "order-1"
    assert item.instance == instance
    assert item.history == []
    assert delivered(item.messages) == delivered([start_message(instance)])


async def test_nothing_to_lock_in_an_empty_hub(store: TaskHubStore) -> None:
    assert await store.lock_next_orchestration() is None
    assert await store.lock_next_activity() is None
    assert await store.next_visible_time() is None


async def test_starting_a_pending_instance_again_is_refused_and_changes_nothing(
    store: TaskHubStore, clock: FakeClock
) -> None:
    first = await start(store, pending("order-1", clock.now()))
    clock.advance(1)
    second = pending("order-1", clock.now(), execution_id="exec-2")

    with pytest.raises(InstanceExistsError) as info:
        await store.start_orchestration(second, start_message(second))

    assert info.value.instance_id == "order-1"
    assert info.value.status == RuntimeStatus.PENDING
    assert await store.get_instance("order-1") == first
    item = await store.lock_next_orchestration()
    assert item is not None
    assert delivered(item.messages) == delivered([start_message(first)])


@pytest.mark.parametrize("status", NOT_TERMINAL, ids=lambda s: s.value)
async def test_starting_a_non_terminal_instance_again_is_refused(
    store: TaskHubStore, clock: FakeClock, status: RuntimeStatus
) -> None:
    first = await start(store, pending("order-1", clock.now()))
    await run_first_episode(store, first, status, clock.now())
    second = pending("order-1", clock.now(), execution_id="exec-2")

    with pytest.raises(InstanceExistsError) as info:
        await store.start_orchestration(second, start_message(second))

    assert info.value.status == status


async def test_overwrite_running_replaces_a_running_instance(store: TaskHubStore, clock: FakeClock) -> None:
    first = await start(store, pending("order-1", clock.now()))
    await run_first_episode(store, first, RuntimeStatus.RUNNING, clock.now())
    clock.advance(1)
    second = pending("order-1", clock.now(), execution_id="exec-2")

    await store.start_orchestration(second, start_message(second), overwrite_running=True)

    assert await store.get_instance("order-1") == second
    item = await store.lock_next_orchestration()
    assert item is not None
    assert delivered(item.messages) == delivered([start_message(second)])


async def test_overwrite_running_replaces_a_pending_instance(store: TaskHubStore, clock: FakeClock) -> None:
    await start(store, pending("order-1", clock.now()))
    second = pending("order-1", clock.now(), execution_id="exec-2")

    await store.start_orchestration(second, start_message(second), overwrite_running=True)

    assert await store.get_instance("order-1") == second


@pytest.mark.parametrize("status", TERMINAL, ids=lambda s: s.value)
async def test_starting_over_a_finished_instance_succeeds(
    store: TaskHubStore, clock: FakeClock, status: RuntimeStatus
) -> None:
    first = await start(store, pending("order-1", clock.now()))
    await run_first_episode(store, first, status, clock.now())
    clock.advance(60)
    second = replace(pending("order-1", clock.now(), execution_id="exec-2"), input='"Paris"')

    await store.start_orchestration(second, start_message(second))

    assert await store.get_instance("order-1") == second
    item = await store.lock_next_orchestration()
    assert item is not None
    assert item.instance == second
    assert delivered(item.messages) == delivered([start_message(second)])


@pytest.mark.advances_clock
async def test_a_scheduled_start_is_not_delivered_before_its_time(
    store: TaskHubStore, clock: FakeClock
) -> None:
    instance = pending("order-1", clock.now())
    start_at = clock.now() + timedelta(minutes=5)

    await store.start_orchestration(instance, start_message(instance, visible_at=start_at))

    assert await store.get_instance("order-1") == instance
    assert await store.lock_next_orchestration() is None
    clock.advance(5 * 60)
    item = await store.lock_next_orchestration()
    assert item is not None
    assert delivered(item.messages) == delivered([start_message(instance)])
