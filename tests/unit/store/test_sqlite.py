"""The embedded store's fast paths: a client's message locked in with the episode it wakes, and short
reads done on the caller's thread while still never overlapping the store thread's use of the connection."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from durable_ext.client import InstanceNotRunningError, _check_status
from durable_ext.engine.history import EventType, HistoryEvent
from durable_ext.engine.messages import TaskMessage
from durable_ext.engine.status import InstanceState, RuntimeStatus
from durable_ext.store.base import InlineMessageDelivery
from durable_ext.store.sqlite import SqliteTaskHubStore
from tests.conformance.builders import (
    commit,
    episode,
    event_raised_event,
    execution_started,
    pending,
    raise_event,
    start,
    with_status,
)
from tests.conformance.conftest import FakeClock

ACTIVE = frozenset({RuntimeStatus.RUNNING, RuntimeStatus.PENDING})


def event(name: str) -> TaskMessage:
    return TaskMessage(
        "order-1", HistoryEvent(EventType.EVENT_RAISED, timestamp="2024-05-06T07:08:09Z", name=name)
    )


def accept_active(state: InstanceState | None) -> None:
    _check_status("order-1", "raise an event to", ACTIVE, state)


def with_store(tmp_path: Path, body: Callable[[SqliteTaskHubStore, FakeClock], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = FakeClock()
        store = SqliteTaskHubStore(tmp_path / "hub.sqlite", clock=clock)
        await store.open()
        try:
            await body(store, clock)
        finally:
            await store.close()

    asyncio.run(main())


def test_the_embedded_store_offers_inline_delivery(tmp_path: Path) -> None:
    assert isinstance(SqliteTaskHubStore(tmp_path / "hub.sqlite"), InlineMessageDelivery)


def test_a_message_locked_in_comes_after_the_queued_ones_and_one_commit_consumes_all(tmp_path: Path) -> None:
    async def body(store: SqliteTaskHubStore, clock: FakeClock) -> None:
        await start(store, pending("order-1", clock.now()))  # queues ExecutionStarted
        item = await store.lock_orchestration_for(event("A"), accept_active)
        assert item is not None
        assert [m.event.event_type for m in item.messages] == [
            EventType.EXECUTION_STARTED,
            EventType.EVENT_RAISED,
        ]
        assert await store.lock_next_orchestration() is None  # locked
        assert await store.lock_orchestration_for(event("B"), accept_active) is None  # busy: send it instead

        assert item.instance is not None
        await store.complete_orchestration(
            item, commit(with_status(item.instance, RuntimeStatus.RUNNING, clock.now()), [])
        )
        assert await store.lock_next_orchestration() is None  # nothing left over, the event included

    with_store(tmp_path, body)


def test_a_refused_message_locks_nothing_and_is_not_stored(tmp_path: Path) -> None:
    async def body(store: SqliteTaskHubStore, clock: FakeClock) -> None:
        instance = await start(store, pending("order-1", clock.now()))
        item = await store.lock_next_orchestration()
        assert item is not None
        done = with_status(instance, RuntimeStatus.COMPLETED, clock.now(), output="1")
        await store.complete_orchestration(item, commit(done, []))

        with pytest.raises(InstanceNotRunningError):
            await store.lock_orchestration_for(event("late"), accept_active)
        assert await store.lock_next_orchestration() is None  # not queued either
        assert "order-1" not in store._locked_instances

    with_store(tmp_path, body)


def test_an_abandoned_inline_episode_keeps_its_message(tmp_path: Path) -> None:
    async def body(store: SqliteTaskHubStore, clock: FakeClock) -> None:
        await start(store, pending("order-1", clock.now()))
        item = await store.lock_orchestration_for(event("A"), accept_active)
        assert item is not None
        await store.abandon_orchestration(item, delay_seconds=1.0)
        clock.advance(2.0)
        again = await store.lock_next_orchestration()
        assert again is not None
        assert [m.event.name for m in again.messages if m.event.event_type == EventType.EVENT_RAISED] == ["A"]

    with_store(tmp_path, body)


def test_the_cached_history_grows_only_with_committed_episodes(tmp_path: Path) -> None:
    """The history an episode gets comes from memory, not SQLite: an abandoned episode leaves it as it
    was, a committed one extends it, and it always equals what is stored."""

    async def body(store: SqliteTaskHubStore, clock: FakeClock) -> None:
        instance = await start(store, pending("order-1", clock.now()))
        running = with_status(instance, RuntimeStatus.RUNNING, clock.now())
        first = episode(clock.now(), execution_started(instance))
        item = await store.lock_next_orchestration()
        assert item is not None and item.history == []
        await store.complete_orchestration(item, commit(running, first))

        await store.send_messages([raise_event("order-1", "A")])
        abandoned = await store.lock_next_orchestration()
        assert abandoned is not None and abandoned.history == first
        await store.abandon_orchestration(abandoned, delay_seconds=1.0)
        clock.advance(2.0)

        retried = await store.lock_next_orchestration()
        assert retried is not None and retried.history == first
        second = episode(clock.now(), event_raised_event("A", "true"))
        await store.complete_orchestration(retried, commit(running, second))

        await store.send_messages([raise_event("order-1", "B")])
        after = await store.lock_next_orchestration()
        assert after is not None
        assert after.history == first + second == await store.get_history("order-1")

    with_store(tmp_path, body)


def test_a_read_waits_while_the_store_thread_holds_the_connection(tmp_path: Path) -> None:
    async def body(store: SqliteTaskHubStore, clock: FakeClock) -> None:
        await start(store, pending("order-1", clock.now()))
        store._conn_lock.acquire()  # as the store thread does for a write's whole transaction
        try:
            read = asyncio.ensure_future(store.get_instance("order-1"))
            await asyncio.sleep(0.05)
            assert not read.done()  # queued for the store thread, not run alongside
        finally:
            store._conn_lock.release()
        state = await asyncio.wait_for(read, timeout=10)
        assert state is not None and state.instance_id == "order-1"

    with_store(tmp_path, body)


def test_reads_answered_at_once_still_let_other_tasks_run(tmp_path: Path) -> None:
    """A loop polling the store must not starve the event loop (it would, if a read answered on the
    caller's thread never suspended)."""

    async def body(store: SqliteTaskHubStore, clock: FakeClock) -> None:
        other = asyncio.ensure_future(asyncio.sleep(0, result="ran"))
        for _ in range(1000):  # a poller that only awaits the store
            await store.get_instance("order-1")
            if other.done():
                break
        assert other.done() and other.result() == "ran"

    with_store(tmp_path, body)


def test_writes_whose_transaction_cannot_begin_all_hear_why(tmp_path: Path) -> None:
    async def body(store: SqliteTaskHubStore, clock: FakeClock) -> None:
        assert store._conn is not None
        with store._conn_lock:
            store._conn.execute("BEGIN")  # left open, so the group commit's BEGIN IMMEDIATE fails
        writes = [asyncio.ensure_future(store.write(lambda conn: None)) for _ in range(3)]
        outcomes = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), timeout=10)
        assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes), outcomes
        with store._conn_lock:
            store._conn.execute("ROLLBACK")
        assert await store.write(lambda conn: "written") == "written"

    with_store(tmp_path, body)
