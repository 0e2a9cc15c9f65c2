"""Extended sessions with the official SDK in memory: each scenario gives exactly the history and output
of a full replay per episode, while the orchestrator code runs once instead of once per episode."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from durable_ext.dispatch.extended_sessions import ExtendedSessions
from durable_ext.engine.history import EventType
from durable_ext.engine.messages import TaskMessage
from tests.support.memory_driver import MemoryHub, orchestrator
from tests.unit.engine.test_replay_with_sdk import (
    accumulate,
    chain,
    flaky_factory,
    hello,
    retry_exhausted,
    retry_with_sibling,
)

RUNS: dict[str, int] = {}  # how often each orchestrator body started


def counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def body(context: df.DurableOrchestrationContext):
        RUNS[name] = RUNS.get(name, 0) + 1
        return (yield from fn(context))

    return body


def fan_out(context: df.DurableOrchestrationContext):
    results = yield context.task_all([context.call_activity("hello", str(i)) for i in range(5)])
    first = yield context.task_any([context.call_activity("hello", "a"), context.call_activity("hello", "b")])
    return [results, first.result]


def events_and_timer(context: df.DurableOrchestrationContext):
    got = []
    for _ in range(3):
        got.append((yield context.wait_for_external_event("e")))
    context.set_custom_status({"seen": len(got)})
    deadline = context.current_utc_datetime + timedelta(minutes=5)
    timer = context.create_timer(deadline)
    winner = yield context.task_any([context.wait_for_external_event("never"), timer])
    return [got, winner == timer, str(context.new_uuid())]


def race_then_cancel(context: df.DurableOrchestrationContext):
    timer = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    winner = yield context.task_any([context.wait_for_external_event("ok"), timer])
    if winner is not timer:
        timer.cancel()  # a flag on an action sent in an earlier episode: its text must follow
    context.set_custom_status("after the race")
    after = yield context.call_activity("hello", "after")
    return [winner.result, after]


def fails_late(context: df.DurableOrchestrationContext):
    yield context.call_activity("hello", "x")
    raise ValueError("late failure")


Scenario = tuple[Callable[..., Any], dict[str, Callable[[Any], Any]], Any, list[tuple[str, Any]]]
SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "chain": lambda: (chain, {"hello": hello}, ["A", "B", "C"], []),
    "fan_out": lambda: (fan_out, {"hello": hello}, None, []),
    "retries": lambda: (retry_with_sibling, {"flaky": flaky_factory(2), "hello": hello}, None, []),
    "retry_exhausted": lambda: (retry_exhausted, {"flaky": flaky_factory(9)}, None, []),
    "events_and_timer": lambda: (events_and_timer, {}, None, [("e", 1), ("e", 2), ("e", 3)]),
    "continue_as_new": lambda: (accumulate, {}, 0, [("add", "1"), ("add", "2"), ("add", "3")]),
    "fails_late": lambda: (fails_late, {"hello": hello}, None, []),
    "race_then_cancel": lambda: (race_then_cancel, {"hello": hello}, None, [("noise", 0), ("ok", "yes")]),
}


def run(name: str, sessions: ExtendedSessions | None) -> MemoryHub:
    fn, activities, value, events = SCENARIOS[name]()
    hub = MemoryHub({name: orchestrator(counted(name, fn))}, activities, sessions=sessions)
    iid = hub.start(name, value)
    hub.run(steps=1)
    for event, data in events:  # one episode each, so the session has something to resume
        hub.raise_event(iid, event, data)
        hub.run(steps=1)
    hub.run()
    return hub


def shape(hub: MemoryHub) -> list[tuple[Any, ...]]:
    return [
        (e.event_type, e.event_id, e.task_scheduled_id, e.timer_id, e.name, e.result, e.input, e.reason)
        for e in next(iter(hub.histories.values()))
    ]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sessions_give_the_same_history_and_output_as_full_replay(name: str) -> None:
    RUNS.clear()
    replayed = run(name, None)
    replays = RUNS.pop(name)
    sessions = ExtendedSessions(idle_timeout=60)
    resumed = run(name, sessions)

    iid = next(iter(replayed.instances))
    assert shape(resumed) == shape(replayed)
    assert resumed.instances[iid].output == replayed.instances[iid].output
    assert resumed.instances[iid].runtime_status == replayed.instances[iid].runtime_status
    assert resumed.instances[iid].custom_status == replayed.instances[iid].custom_status
    executions = sum(1 for e in resumed.histories[iid] if e.event_type == EventType.EXECUTION_STARTED)
    # Full replay starts the body once per episode; a session once per execution (continue-as-new
    # begins a new history, hence a new session).
    assert sessions.resumed > 0 and replays > RUNS[name]
    assert RUNS[name] == sessions.full_replays >= executions
    assert len(sessions) == 0  # finished instances keep nothing


def test_a_history_that_does_not_continue_the_session_is_replayed_in_full() -> None:
    sessions = ExtendedSessions(idle_timeout=60)
    hub = MemoryHub({"chain": orchestrator(chain)}, {"hello": hello}, sessions=sessions)
    iid = hub.start("chain", ["A", "B", "C"])
    hub.run(steps=3)  # start, first activity, its result: the session has seen two episodes
    assert len(sessions) == 1 and sessions.full_replays == 1
    # The last episode's commit is lost (say, an ETag conflict): history falls back one episode and the
    # episode's message comes again.
    history = hub.histories[iid]
    cut = max(i for i, e in enumerate(history) if e.event_type == EventType.ORCHESTRATOR_STARTED)
    lost = history[cut + 1]
    assert lost.event_type == EventType.TASK_COMPLETED
    hub.histories[iid] = history[:cut]
    hub.queue = [TaskMessage(iid, replace(lost, is_played=False), execution_id=f"{iid}-exec")]
    hub.run()
    assert hub.output(iid) == ["Hello A!", "Hello B!", "Hello C!"]
    assert sessions.full_replays == 2


def test_idle_sessions_expire() -> None:
    sessions = ExtendedSessions(idle_timeout=30)
    hub = MemoryHub({"chain": orchestrator(chain)}, {"hello": hello}, sessions=sessions)
    hub.start("chain", ["A", "B"])
    hub.run(steps=1)
    assert len(sessions) == 1
    sessions.expire_idle()
    assert len(sessions) == 1
    sessions.expire_idle(now=float("inf"))
    assert len(sessions) == 0


def test_a_chain_replays_once_and_resumes_for_every_later_episode() -> None:
    sessions = ExtendedSessions(idle_timeout=60)
    hub = MemoryHub({"chain": orchestrator(chain)}, {"hello": hello}, sessions=sessions)
    iid = hub.start("chain", ["A", "B"])
    hub.run()
    assert json.loads(hub.instances[iid].output or "null") == ["Hello A!", "Hello B!"]
    assert sessions.full_replays == 1 and sessions.resumed == 2
