"""The replay engine driven by the official SDK in memory: ids, history shapes and recovery rules."""

from __future__ import annotations

import json
from datetime import timedelta

import azure.durable_functions as df
import pytest

from durable_ext.engine.history import EventType, HistoryEvent, format_timestamp, parse_timestamp
from durable_ext.engine.messages import TaskMessage
from durable_ext.engine.orchestration import EpisodeOptions
from durable_ext.engine.status import RuntimeStatus
from tests.support.memory_driver import MemoryHub, orchestrator


def hello(name: str) -> str:
    return f"Hello {name}!"


def chain(context: df.DurableOrchestrationContext):
    out = []
    for city in context.get_input():
        out.append((yield context.call_activity("hello", city)))
    return out


def test_chain_history_matches_dtfx_episode_layout() -> None:
    hub = MemoryHub({"chain": orchestrator(chain)}, {"hello": hello})
    iid = hub.start("chain", ["A", "B"])
    hub.run()
    assert hub.output(iid) == ["Hello A!", "Hello B!"]
    assert hub.types(iid) == [
        "OrchestratorStarted", "ExecutionStarted", "TaskScheduled", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted", "TaskScheduled", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted", "ExecutionCompleted", "OrchestratorCompleted",
    ]  # fmt: skip
    scheduled = [e for e in hub.histories[iid] if e.event_type == EventType.TASK_SCHEDULED]
    assert [e.event_id for e in scheduled] == [0, 1]
    completed = hub.histories[iid][-2]
    assert completed.event_id == 2 and completed.result == json.dumps(["Hello A!", "Hello B!"])


def test_is_played_marks_past_events_only() -> None:
    hub = MemoryHub({"chain": orchestrator(chain)}, {"hello": hello})
    hub.start("chain", ["A"])
    hub.run()
    first, second = hub.payloads
    assert [e["IsPlayed"] for e in first["history"]] == [False, False]
    assert first["isReplaying"] is False and second["isReplaying"] is True
    played = {(e["EventType"], e["IsPlayed"]) for e in second["history"]}
    assert (EventType.ORCHESTRATOR_STARTED, False) in played
    assert (EventType.EXECUTION_STARTED, True) in played
    assert second["history"][-1]["EventType"] == EventType.TASK_COMPLETED
    assert second["history"][-1]["IsPlayed"] is False
    assert second["history"][1]["Version"] == ""


def flaky_factory(failures: int):
    calls = {"n": 0}

    def flaky(_: object) -> str:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise RuntimeError(f"attempt {calls['n']}")
        return "ok"

    return flaky


def retry_with_sibling(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=3)
    results = yield context.task_all(
        [context.call_activity_with_retry("flaky", options, None), context.call_activity("hello", "x")]
    )
    after = yield context.call_activity("hello", "after")
    return [*results, after]


def test_retry_ids_timers_and_sibling_ordering() -> None:
    hub = MemoryHub({"o": orchestrator(retry_with_sibling)}, {"flaky": flaky_factory(2), "hello": hello})
    iid = hub.start("o")
    hub.run()
    assert hub.output(iid) == ["ok", "Hello x!", "Hello after!"]
    ids = [
        (e.event_type.dtfx_name, e.event_id if e.event_id >= 0 else (e.task_scheduled_id, e.timer_id))
        for e in hub.histories[iid]
        if e.event_type not in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED)
    ]
    scheduling = [(t, i) for t, i in ids if t in ("TaskScheduled", "TimerCreated")]
    assert scheduling == [
        ("TaskScheduled", 0),  # flaky, attempt 1
        ("TaskScheduled", 1),  # hello x
        ("TimerCreated", 2),  # retry delay after attempt 1
        ("TaskScheduled", 3),  # attempt 2
        ("TimerCreated", 4),
        ("TaskScheduled", 5),  # attempt 3 succeeds
        ("TaskScheduled", 6),  # hello after
    ]
    timers = [e for e in hub.histories[iid] if e.event_type == EventType.TIMER_CREATED]
    delays = [parse_timestamp(t.fire_at or "") - parse_timestamp(t.timestamp) for t in timers]
    assert delays == [timedelta(seconds=5), timedelta(seconds=5)]


def retry_exhausted(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)
    try:
        yield context.call_activity_with_retry("flaky", options, None)
    except Exception as exc:
        return str(exc)


def test_exhausted_retry_adds_the_final_timer_then_fails() -> None:
    hub = MemoryHub({"o": orchestrator(retry_exhausted)}, {"flaky": flaky_factory(9)})
    iid = hub.start("o")
    hub.run()
    assert hub.output(iid).startswith("Activity function 'flaky' failed: RuntimeError: attempt 2")
    timers = [e for e in hub.histories[iid] if e.event_type == EventType.TIMER_CREATED]
    assert [t.event_id for t in timers] == [1, 3]
    assert timers[1].fire_at == timers[1].timestamp  # the immediate back-compat timer


def long_wait(context: df.DurableOrchestrationContext):
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(days=10))
    return (context.current_utc_datetime - start).days


def test_long_timers_are_split_like_azure_storage() -> None:
    options = EpisodeOptions(
        long_running_timer_interval="3.00:00:00", maximum_short_timer_duration="6.00:00:00"
    )
    hub = MemoryHub({"o": orchestrator(long_wait)}, {}, options=options)
    iid = hub.start("o")
    hub.run()
    assert hub.output(iid) == 10
    timers = [e for e in hub.histories[iid] if e.event_type == EventType.TIMER_CREATED]
    start = parse_timestamp(hub.histories[iid][0].timestamp)
    # Day 0: 10 days left > 6, so wait 3. Day 3: 7 left, wait 3. Day 6: 4 left <= 6, wait to the end.
    assert [(parse_timestamp(t.fire_at or "") - start).days for t in timers] == [3, 6, 10]
    assert [t.event_id for t in timers] == [0, 1, 2]


def test_thirty_day_timer_on_a_virtual_clock() -> None:
    def monthly(context: df.DurableOrchestrationContext):
        seen = []
        for _ in range(30):
            yield context.create_timer(context.current_utc_datetime + timedelta(days=1))
            seen.append(context.current_utc_datetime.isoformat())
        return seen

    hub = MemoryHub({"o": orchestrator(monthly)}, {})
    iid = hub.start("o")
    hub.run()
    seen = [parse_timestamp(s) for s in hub.output(iid)]
    assert [(b - a) for a, b in zip(seen, seen[1:], strict=False)] == [timedelta(days=1)] * 29


def accumulate(context: df.DurableOrchestrationContext):
    total = context.get_input()
    if total >= 6:
        return total
    value = yield context.wait_for_external_event("add")
    context.continue_as_new(total + int(value))
    return None


def test_continue_as_new_carries_over_unconsumed_events() -> None:
    hub = MemoryHub({"acc": orchestrator(accumulate)}, {})
    iid = hub.start("acc", 0)
    for value in (1, 2, 3):
        hub.raise_event(iid, "add", json.dumps(value))
    hub.run()
    assert hub.status(iid) == RuntimeStatus.COMPLETED
    assert hub.output(iid) == 6
    started = hub.histories[iid][1]
    assert started.event_type == EventType.EXECUTION_STARTED and started.generation == 3


def test_terminate_stops_pending_work() -> None:
    def waits(context: df.DurableOrchestrationContext):
        yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
        return "late"

    hub = MemoryHub({"w": orchestrator(waits)}, {})
    iid = hub.start("w")
    hub.run(until=hub.now)
    hub.queue.append(
        TaskMessage(
            iid,
            HistoryEvent(EventType.EXECUTION_TERMINATED, timestamp=format_timestamp(hub.now), input="stop"),
        )
    )
    hub.run()
    assert hub.status(iid) == RuntimeStatus.TERMINATED
    assert hub.instances[iid].output == "stop"
    assert hub.types(iid)[-3:] == ["ExecutionTerminated", "ExecutionCompleted", "OrchestratorCompleted"]


def test_duplicate_and_foreign_messages_are_absorbed() -> None:
    hub = MemoryHub({"chain": orchestrator(chain)}, {"hello": hello})
    iid = hub.start("chain", ["A", "B"])
    hub.run(steps=2)  # the start episode, then the first activity
    completion = next(m for m in hub.queue if m.event.event_type == EventType.TASK_COMPLETED)
    hub.queue.append(completion)  # at-least-once delivery: the same result twice
    stale = TaskMessage(iid, completion.event, execution_id="an-older-execution")
    hub.queue.append(stale)
    hub.run()
    assert hub.output(iid) == ["Hello A!", "Hello B!"]
    done = [e for e in hub.histories[iid] if e.event_type == EventType.TASK_COMPLETED]
    assert [e.task_scheduled_id for e in done] == [0, 1]


def test_an_instance_row_left_behind_its_finished_history_is_brought_up_to_it() -> None:
    """Azure Storage writes an episode's history, then the instance row (two tables): a host killed
    in between leaves the row Running under a history that completed. The result it consumed comes
    again, as a duplicate; the episode that drops it must still record what the history says, or the
    row would stay Running forever (no other message is coming)."""
    hub = MemoryHub({"chain": orchestrator(chain)}, {"hello": hello})
    iid = hub.start("chain", ["A"])
    hub.run(steps=2)  # the start episode, then the activity
    completion = next(m for m in hub.queue if m.event.event_type == EventType.TASK_COMPLETED)
    row_before = hub.instances[iid]
    hub.run()
    history = list(hub.histories[iid])
    finished = hub.instances[iid]

    hub.instances[iid] = row_before  # the last episode's history is written, its row is not
    hub.queue.append(completion)  # not deleted either: it is delivered again
    hub.run()
    repaired = hub.instances[iid]
    assert repaired.runtime_status == RuntimeStatus.COMPLETED
    assert hub.output(iid) == ["Hello A!"]
    assert repaired.completed_time == finished.completed_time
    assert hub.histories[iid] == history  # nothing replayed or appended


@pytest.mark.parametrize(
    ("changed", "expected", "actual"),
    [
        (["hello_renamed", "hello"], "TaskScheduled 'hello'", "TaskScheduled 'hello_renamed'"),
        ("timer-first", "TaskScheduled 'hello'", "TimerCreated 'None'"),
    ],
)
def test_changed_code_is_reported_as_non_deterministic(changed: object, expected: str, actual: str) -> None:
    def original(context: df.DurableOrchestrationContext):
        yield context.call_activity("hello", "a")
        yield context.wait_for_external_event("go")
        return "done"

    def modified(context: df.DurableOrchestrationContext):
        if changed == "timer-first":
            yield context.create_timer(context.current_utc_datetime)
        else:
            yield context.call_activity(changed[0], "a")  # type: ignore[index]
        yield context.wait_for_external_event("go")
        return "done"

    handles = {"o": orchestrator(original)}
    hub = MemoryHub(handles, {"hello": hello, "hello_renamed": hello})
    iid = hub.start("o")
    hub.run()
    handles["o"] = orchestrator(modified)  # a deploy while the instance waits
    hub.raise_event(iid, "go", None)
    hub.run()
    assert hub.status(iid) == RuntimeStatus.FAILED
    message = hub.instances[iid].output or ""
    assert message.startswith("Orchestrator function 'o' failed: Non-deterministic workflow detected")
    assert f"has {expected} at event id 0" in message and f"schedules {actual}" in message
