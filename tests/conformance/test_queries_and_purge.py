"""query_instances (filters, paging) and purge_instance / purge_instances."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import pytest

from durable_ext.engine.status import InstanceState, RuntimeStatus
from durable_ext.store.base import InstanceQuery, TaskHubStore

from .builders import (
    commit,
    episode,
    execution_started,
    pending,
    raise_event,
    run_first_episode,
    schedule_activity,
    start,
    with_status,
)
from .conftest import START, FakeClock


def _at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


async def _create(
    store: TaskHubStore, clock: FakeClock, instance_id: str, minutes: float, status: RuntimeStatus
) -> InstanceState:
    """An instance created at START + `minutes`, driven to `status` by one episode if not Pending."""
    clock.advance((_at(minutes) - clock.now()).total_seconds())
    instance = await start(store, pending(instance_id, clock.now()))
    if status == RuntimeStatus.PENDING:
        return instance
    return await run_first_episode(store, instance, status, clock.now())


async def _ids(store: TaskHubStore, query: InstanceQuery) -> set[str]:
    page = await store.query_instances(query)
    assert page.continuation_token is None
    return {i.instance_id for i in page.instances}


async def _populate(store: TaskHubStore, clock: FakeClock) -> None:
    """order-1..4 at minutes 0..3, with mixed statuses, plus one 'batch-1' at minute 4."""
    await _create(store, clock, "order-1", 0, RuntimeStatus.COMPLETED)
    await _create(store, clock, "order-2", 1, RuntimeStatus.RUNNING)
    await _create(store, clock, "order-3", 2, RuntimeStatus.FAILED)
    await _create(store, clock, "order-4", 3, RuntimeStatus.PENDING)
    await _create(store, clock, "batch-1", 4, RuntimeStatus.COMPLETED)


# -- query_instances --------------------------------------------------------------------------------
async def test_an_unfiltered_query_returns_every_instance(store: TaskHubStore, clock: FakeClock) -> None:
    await _populate(store, clock)

    assert await _ids(store, InstanceQuery()) == {"order-1", "order-2", "order-3", "order-4", "batch-1"}


async def test_query_returns_the_stored_rows(store: TaskHubStore, clock: FakeClock) -> None:
    done = await _create(store, clock, "order-1", 0, RuntimeStatus.COMPLETED)

    page = await store.query_instances(InstanceQuery())

    assert page.instances == [done]


async def test_query_by_created_time_range_is_inclusive(store: TaskHubStore, clock: FakeClock) -> None:
    await _populate(store, clock)

    query = InstanceQuery(created_from=_at(1), created_to=_at(3))

    assert await _ids(store, query) == {"order-2", "order-3", "order-4"}


async def test_query_by_created_from_only(store: TaskHubStore, clock: FakeClock) -> None:
    await _populate(store, clock)

    assert await _ids(store, InstanceQuery(created_from=_at(2.5))) == {"order-4", "batch-1"}


async def test_query_by_created_to_only(store: TaskHubStore, clock: FakeClock) -> None:
    await _populate(store, clock)

    assert await _ids(store, InstanceQuery(created_to=_at(0.5))) == {"order-1"}


async def test_query_by_statuses(store: TaskHubStore, clock: FakeClock) -> None:
    await _populate(store, clock)

    query = InstanceQuery(statuses=frozenset({RuntimeStatus.COMPLETED, RuntimeStatus.PENDING}))

    assert await _ids(store, query) == {"order-1", "order-4", "batch-1"}


async def test_query_by_instance_id_prefix(store: TaskHubStore, clock: FakeClock) -> None:
    await _populate(store, clock)
    await _create(store, clock, "order", 5, RuntimeStatus.PENDING)
    await _create(store, clock, "orde", 6, RuntimeStatus.PENDING)

    assert await _ids(store, InstanceQuery(instance_id_prefix="order")) == {
        "order",
        "order-1",
        "order-2",
        "order-3",
        "order-4",
    }


async def test_query_filters_combine(store: TaskHubStore, clock: FakeClock) -> None:
    await _populate(store, clock)

    query = InstanceQuery(
        created_from=_at(0),
        created_to=_at(4),
        statuses=frozenset({RuntimeStatus.COMPLETED}),
        instance_id_prefix="order-",
    )

    assert await _ids(store, query) == {"order-1"}


async def test_paging_returns_every_instance_exactly_once(store: TaskHubStore, clock: FakeClock) -> None:
    # Three instances per second: pages must break ties on equal created times correctly.
    for i in range(250):
        if i % 3 == 0:
            clock.advance(1)
        await start(store, pending(f"inst-{i:03d}", clock.now()))

    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = await store.query_instances(InstanceQuery(page_size=100, continuation_token=token))
        pages += 1
        assert len(page.instances) <= 100
        seen += [i.instance_id for i in page.instances]
        token = page.continuation_token
        if token is None:
            break
        assert pages < 10, "paging does not terminate"

    assert sorted(seen) == [f"inst-{i:03d}" for i in range(250)]


async def test_paging_applies_the_filters_on_every_page(store: TaskHubStore, clock: FakeClock) -> None:
    for i in range(30):
        status = RuntimeStatus.COMPLETED if i % 2 else RuntimeStatus.RUNNING
        await _create(store, clock, f"inst-{i:02d}", i, status)
    query = InstanceQuery(statuses=frozenset({RuntimeStatus.COMPLETED}), page_size=4)

    seen: list[str] = []
    while True:
        page = await store.query_instances(query)
        seen += [i.instance_id for i in page.instances]
        if page.continuation_token is None:
            break
        query = InstanceQuery(
            statuses=query.statuses, page_size=query.page_size, continuation_token=page.continuation_token
        )

    assert sorted(seen) == [f"inst-{i:02d}" for i in range(1, 30, 2)]


@pytest.mark.parametrize(
    "token",
    [
        "not a token",
        "abc",
        base64.urlsafe_b64encode(b"{not json").decode(),
        base64.urlsafe_b64encode(b"[1]").decode(),
        base64.urlsafe_b64encode(b"42").decode(),
    ],
)
async def test_a_bad_continuation_token_is_a_value_error(
    store: TaskHubStore, clock: FakeClock, token: str
) -> None:
    await start(store, pending("a", clock.now()))

    with pytest.raises(ValueError):
        await store.query_instances(InstanceQuery(continuation_token=token))


# -- purge ------------------------------------------------------------------------------------------
async def test_purge_instance_removes_row_history_and_messages(store: TaskHubStore, clock: FakeClock) -> None:
    instance = await start(store, pending("order-1", clock.now()))
    item = await store.lock_next_orchestration()
    assert item is not None
    scheduled = schedule_activity(instance, event_id=0)
    running = with_status(instance, RuntimeStatus.RUNNING, clock.now())
    history = episode(clock.now(), execution_started(instance), scheduled.event)
    await store.complete_orchestration(item, commit(running, history, [scheduled]))
    await store.send_messages([raise_event("order-1")])

    assert await store.purge_instance("order-1") == 1

    assert await store.get_instance("order-1") is None
    assert await store.get_history("order-1") == []
    assert await store.lock_next_orchestration() is None
    assert await store.lock_next_activity() is None


async def test_purge_instance_leaves_other_instances_alone(store: TaskHubStore, clock: FakeClock) -> None:
    await start(store, pending("a", clock.now()))
    kept = await start(store, pending("b", clock.now()))

    await store.purge_instance("a")

    assert await store.get_instance("b") == kept
    item = await store.lock_next_orchestration()
    assert item is not None and item.instance_id == "b"


async def test_purging_an_unknown_instance_returns_zero(store: TaskHubStore) -> None:
    assert await store.purge_instance("nobody") == 0


async def test_purging_twice_returns_one_then_zero(store: TaskHubStore, clock: FakeClock) -> None:
    await start(store, pending("a", clock.now()))

    assert await store.purge_instance("a") == 1
    assert await store.purge_instance("a") == 0


async def test_purge_instances_by_time_range_and_status(store: TaskHubStore, clock: FakeClock) -> None:
    await _populate(store, clock)

    purged = await store.purge_instances(
        _at(0), _at(3), frozenset({RuntimeStatus.COMPLETED, RuntimeStatus.FAILED})
    )

    assert purged == 2
    assert await _ids(store, InstanceQuery()) == {"order-2", "order-4", "batch-1"}
    assert await store.get_history("order-1") == []
    assert await store.get_history("order-3") == []
    assert await store.get_history("batch-1") != []


async def test_purge_instances_without_upper_bound(store: TaskHubStore, clock: FakeClock) -> None:
    await _populate(store, clock)

    purged = await store.purge_instances(_at(1), None, frozenset({RuntimeStatus.COMPLETED}))

    assert purged == 1
    assert await _ids(store, InstanceQuery()) == {"order-1", "order-2", "order-3", "order-4"}


async def test_purge_instances_without_status_filter(store: TaskHubStore, clock: FakeClock) -> None:
    await _populate(store, clock)

    purged = await store.purge_instances(_at(2), None, frozenset())

    assert purged == 3
    assert await _ids(store, InstanceQuery()) == {"order-1", "order-2"}


async def test_purge_instances_matching_nothing_returns_zero(store: TaskHubStore, clock: FakeClock) -> None:
    await _populate(store, clock)

    assert await store.purge_instances(_at(100), None, frozenset()) == 0
    assert len(await _ids(store, InstanceQuery())) == 5
