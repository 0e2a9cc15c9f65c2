"""Durability: what one store wrote is there for the next store opened on the same hub (a restart).

These close the store and open a new one, so they use the `hub` factory rather than `store`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from durable_ext.engine.status import RuntimeStatus
from durable_ext.store.base import TaskHubStore

from .builders import (
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
from .conftest import FakeClock, StoreFactory, xfail_on

pytestmark = pytest.mark.reopen

AZURE_DELAYS_AFTER_RESTART = (
    "An Azure queue hides a delayed message from every reader and nothing else records its due time: "
    "a restarted AzureStorageTaskHubStore knows only the delays it sent or put back itself, so "
    "next_visible_time() is None and dispatchers find the timer by polling "
    "(durable_ext/store/azure/store.py)."
)


@asynccontextmanager
async def _opened(hub: StoreFactory) -> AsyncIterator[TaskHubStore]:
    store = hub()
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_instances_history_and_pending_messages_survive_a_restart(
    hub: StoreFactory, clock: FakeClock
) -> None:
    async with _opened(hub) as store:
        instance = await start(store, pending("order-1", clock.now()))
        waiting = await start(store, pending("order-2", clock.now()))
        item = await store.lock_next_orchestration()
        assert item is not None and item.instance_id == "order-1"
        scheduled = schedule_activity(instance, event_id=0)
        running = with_status(instance, RuntimeStatus.RUNNING, clock.now())
        history = episode(clock.now(), execution_started(instance), scheduled.event)
        await store.complete_orchestration(item, commit(running, history, [scheduled]))
        event = raise_event("order-1", "Approval", "true")
        timer = raise_event("order-1", "Timer", "1", visible_at=clock.now() + timedelta(minutes=1))
        await store.send_messages([event, timer])

    async with _opened(hub) as store:
        assert await store.get_instance("order-1") == running
        assert await store.get_instance("order-2") == waiting
        assert await store.get_history("order-1") == history
        work = await store.lock_next_activity()
        assert work is not None
        assert work.event == scheduled.event
        clock.advance(1)  # order-1 has an activity running: a store may hold it back briefly (fan-in)
        items = {i.instance_id: i for i in await lock_all_orchestrations(store)}
        assert sorted(items) == ["order-1", "order-2"]
        assert delivered(items["order-1"].messages) == delivered([event])
        assert items["order-1"].history == history
        assert items["order-2"].instance == waiting


async def test_a_restarted_store_knows_when_the_next_delayed_message_is_due(
    hub: StoreFactory, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    xfail_on(request, "azure", AZURE_DELAYS_AFTER_RESTART)
    async with _opened(hub) as store:
        timer = raise_event("order-1", "Timer", "1", visible_at=clock.now() + timedelta(minutes=1))
        await store.send_messages([timer])

    async with _opened(hub) as store:
        assert await store.next_visible_time() == timer.visible_at


async def test_consumed_messages_stay_consumed_after_a_restart(hub: StoreFactory, clock: FakeClock) -> None:
    async with _opened(hub) as store:
        instance = await start(store, pending("order-1", clock.now()))
        item = await store.lock_next_orchestration()
        assert item is not None
        running = with_status(instance, RuntimeStatus.RUNNING, clock.now())
        history = episode(clock.now(), execution_started(instance))
        await store.complete_orchestration(item, commit(running, history))

    async with _opened(hub) as store:
        assert await store.lock_next_orchestration() is None
        assert await store.get_history("order-1") == history


async def test_a_purge_survives_a_restart(hub: StoreFactory, clock: FakeClock) -> None:
    async with _opened(hub) as store:
        await start(store, pending("order-1", clock.now()))
        assert await store.purge_instance("order-1") == 1

    async with _opened(hub) as store:
        assert await store.get_instance("order-1") is None
        assert await store.lock_next_orchestration() is None
