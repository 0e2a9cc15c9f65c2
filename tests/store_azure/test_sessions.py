"""The in-memory side of control queues: per-instance batches, redelivery, holds, start de-duplication."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from durable_ext.engine.history import EventType, HistoryEvent, format_timestamp
from durable_ext.engine.messages import TaskMessage
from durable_ext.engine.status import InstanceState, RuntimeStatus
from durable_ext.store.azure.envelope import Envelope
from durable_ext.store.azure.queues import Received, backoff_seconds, due_time
from durable_ext.store.azure.sessions import ControlBuffer, StartVerdict, start_verdict
from durable_ext.store.azure.work_items import ActivityLock, LocalResult

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
LATER = T0 + timedelta(hours=1)


def received(
    instance_id: str, message_id: str, *, second: int = 0, seq: int = 0, receipt: str = "r1"
) -> Received:
    event = HistoryEvent(EventType.EVENT_RAISED, name=message_id)
    envelope = Envelope(TaskMessage(instance_id, event), sequence_number=seq)
    return Received("q-00", message_id, receipt, 1, T0 + timedelta(seconds=second), envelope)


def test_batches_come_in_insertion_then_sequence_order_oldest_instance_first() -> None:
    buffer = ControlBuffer()
    buffer.add(received("b", "b1", second=1, seq=5))
    buffer.add(received("a", "a2", second=2, seq=1))
    buffer.add(received("a", "a1", second=2, seq=0))
    buffer.add(received("a", "a0", second=1, seq=9))

    first = buffer.take_ready(LATER)
    assert first is not None and first.instance_id == "b"
    second = buffer.take_ready(LATER)
    assert second is not None and [r.message_id for r in second.messages] == ["a0", "a1", "a2"]
    assert buffer.take_ready(LATER) is None


def test_a_redelivered_message_replaces_its_copy_even_while_locked() -> None:
    buffer = ControlBuffer()
    buffer.add(received("a", "m1"))
    batch = buffer.take_ready(LATER)
    assert batch is not None

    buffer.add(received("a", "m1", receipt="r2"))  # visibility ran out during the episode
    buffer.add(received("a", "m2"))

    assert [r.pop_receipt for r in batch.messages] == ["r2"]
    assert buffer.take_ready(LATER) is None  # 'a' is still locked
    buffer.unlock(batch)
    again = buffer.take_ready(LATER)
    assert again is not None and [r.message_id for r in again.messages] == ["m2"]


def test_a_held_instance_waits_for_its_abandoned_messages() -> None:
    buffer = ControlBuffer()
    buffer.hold("a", {"old"}, until=LATER)
    buffer.add(received("a", "new", second=5))
    assert buffer.take_ready(T0) is None

    buffer.add(received("a", "old", second=1))
    batch = buffer.take_ready(T0)
    assert batch is not None and [r.message_id for r in batch.messages] == ["old", "new"]


def test_a_hold_gives_up_after_its_deadline() -> None:
    buffer = ControlBuffer()
    buffer.hold("a", {"lost"}, until=LATER)
    buffer.add(received("a", "new"))
    assert buffer.take_ready(LATER + timedelta(seconds=1)) is not None


def _start(execution_id: str, at: datetime, parent: bool = False) -> HistoryEvent:
    return HistoryEvent(
        EventType.EXECUTION_STARTED,
        timestamp=format_timestamp(at),
        version="",
        execution_id=execution_id,
        parent_instance={"OrchestrationInstance": {"InstanceId": "p"}} if parent else None,
    )


def _row(execution_id: str, status: RuntimeStatus) -> InstanceState:
    return InstanceState("i", "Orch", execution_id, status, T0, T0)


@pytest.mark.parametrize(
    ("event", "dequeue_count", "row", "verdict"),
    [
        (_start("new", LATER), 1, None, StartVerdict.KEEP),  # the row is not written yet
        (_start("x", LATER), 1, _row("x", RuntimeStatus.PENDING), StartVerdict.KEEP),
        (_start("new", LATER), 1, _row("old", RuntimeStatus.RUNNING), StartVerdict.DEFER),
        (_start("new", LATER), 1, _row("old", RuntimeStatus.COMPLETED), StartVerdict.DEFER),
        (_start("new", LATER), 10, _row("old", RuntimeStatus.RUNNING), StartVerdict.DISCARD),
        (_start("stale", T0), 1, _row("newer", RuntimeStatus.PENDING), StartVerdict.DISCARD),
        (_start("other", T0), 1, _row("old", RuntimeStatus.CONTINUED_AS_NEW), StartVerdict.KEEP),
        (_start("child", LATER, parent=True), 1, _row("old", RuntimeStatus.RUNNING), StartVerdict.KEEP),
        (
            HistoryEvent(EventType.EVENT_RAISED, name="x"),
            1,
            _row("old", RuntimeStatus.RUNNING),
            StartVerdict.KEEP,
        ),
    ],
    ids=[
        "no-row",
        "same",
        "newer-running",
        "newer-done",
        "gave-up",
        "superseded",
        "engine-decides",
        "sub",
        "event",
    ],
)
def test_start_deduplication(
    event: HistoryEvent, dequeue_count: int, row: InstanceState | None, verdict: StartVerdict
) -> None:
    assert start_verdict(event, dequeue_count, row) == verdict


def test_abandon_backoff_doubles_up_to_ten_minutes() -> None:
    assert [backoff_seconds(n) for n in (0, 1, 2, 5, 9, 10, 31)] == [1, 2, 4, 32, 512, 600, 600]


def test_due_times_come_from_the_event() -> None:
    fire = "2024-05-06T08:00:00Z"
    assert due_time(HistoryEvent(EventType.TIMER_FIRED, fire_at=fire)) == datetime(
        2024, 5, 6, 8, tzinfo=timezone.utc
    )
    assert due_time(HistoryEvent(EventType.EXECUTION_STARTED, scheduled_start_time=fire)) is not None
    assert due_time(HistoryEvent(EventType.EVENT_RAISED, name=f"op@{fire}")) is not None
    assert due_time(HistoryEvent(EventType.EVENT_RAISED, name="op")) is None
    assert due_time(HistoryEvent(EventType.TASK_COMPLETED)) is None


def _result(instance_id: str, second: int, queue: str = "q-00") -> LocalResult:
    event = HistoryEvent(EventType.TASK_COMPLETED, task_scheduled_id=0)
    lock = ActivityLock(received(instance_id, f"work-{instance_id}-{second}"))
    return LocalResult(TaskMessage(instance_id, event), lock, queue, T0 + timedelta(seconds=second))


def test_an_activity_result_in_memory_makes_its_instance_ready_after_older_messages() -> None:
    buffer = ControlBuffer()
    buffer.add_result(_result("a", second=1))
    buffer.add(received("b", "b1", second=0))

    first = buffer.take_ready(LATER)
    assert first is not None and first.instance_id == "b"
    second = buffer.take_ready(LATER)
    assert second is not None and second.messages == [] and len(second.results) == 1
    buffer.unlock(first)
    assert second.queue == "q-00" and buffer.locked_in("q-00") == 1  # a draining partition waits for it


def test_a_result_for_a_busy_instance_waits_for_its_next_batch() -> None:
    buffer = ControlBuffer()
    buffer.add(received("a", "m1"))
    batch = buffer.take_ready(LATER)
    assert batch is not None
    buffer.add_result(_result("a", second=2))
    assert buffer.take_ready(LATER) is None and batch.results == []
    buffer.unlock(batch)
    again = buffer.lock_instance("a", LATER, "q-00")
    assert again is not None and len(again.results) == 1


def test_a_released_queue_gives_back_its_messages_and_results() -> None:
    buffer = ControlBuffer()
    buffer.add(received("a", "m1"))
    buffer.add_result(_result("b", second=1))
    buffer.add_result(_result("c", second=1, queue="q-01"))

    messages, results = buffer.take_queue("q-00")

    assert [r.message_id for r in messages] == ["m1"]
    assert [r.message.instance_id for r in results] == ["b"]
    assert buffer.has_ready(LATER)  # "c" is on another queue
