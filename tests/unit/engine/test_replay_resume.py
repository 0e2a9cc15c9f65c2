"""Resuming a replay from the previous episode's checkpoint (extended sessions) gives exactly what replaying
from the start gives; when the earlier actions changed in a way it cannot follow, it starts over."""

from __future__ import annotations

from typing import Any

import pytest

from durable_ext.engine.errors import NonDeterminismError
from durable_ext.engine.history import EventType, HistoryEvent, dumps_event
from durable_ext.engine.replay import ReplayResult, replay_actions

from .test_replay_schema_v1 import CTX, activity, started

Actions = list[list[dict[str, Any]]]


def timer(cancelled: bool = False) -> dict[str, Any]:
    return {"actionType": 5, "fireAt": "2024-01-02T00:00:00Z", "isCanceled": cancelled}


def wait(name: str) -> dict[str, Any]:
    return {"actionType": 6, "externalEventName": name}


def when_any(*children: dict[str, Any]) -> dict[str, Any]:
    return {"actionType": 11, "compoundActions": list(children)}


def next_episode(
    history: list[HistoryEvent], result: ReplayResult, *events: HistoryEvent
) -> list[HistoryEvent]:
    """The history after committing `result`, plus a new episode bringing `events`."""
    return [
        *history,
        *result.new_events,
        HistoryEvent(EventType.ORCHESTRATOR_COMPLETED, timestamp="2024-01-01T00:00:00Z"),
        HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp="2024-01-01T00:00:05Z"),
        *events,
    ]


def same(a: ReplayResult, b: ReplayResult) -> None:
    assert [dumps_event(e) for e in a.new_events] == [dumps_event(e) for e in b.new_events]
    assert [(m.instance_id, dumps_event(m.event), m.visible_at) for m in a.messages] == [
        (m.instance_id, dumps_event(m.event), m.visible_at) for m in b.messages
    ]
    assert (a.open_tasks, a.next_sequence, a.continue_as_new) == (
        b.open_tasks,
        b.next_sequence,
        b.continue_as_new,
    )


def completed(seq: int) -> HistoryEvent:
    return HistoryEvent(
        EventType.TASK_COMPLETED, timestamp="2024-01-01T00:00:04Z", task_scheduled_id=seq, result="1"
    )


def run_both(history: list[HistoryEvent], first: ReplayResult, actions: Actions, schema: int) -> ReplayResult:
    full = replay_actions(CTX, history, actions, schema)
    assert first.checkpoint is not None
    resumed = replay_actions(CTX, history, actions, schema, resume=first.checkpoint)
    same(resumed, full)
    return resumed


@pytest.mark.parametrize("schema", [0, 1])
def test_resuming_a_chain_matches_a_full_replay(schema: int) -> None:
    def actions(names: list[str]) -> Actions:
        return [[activity(n)] for n in names] if schema == 0 else [[activity(n) for n in names]]

    history = started()
    first = replay_actions(CTX, history, actions(["a"]), schema)
    history = next_episode(history, first, completed(0))
    second = run_both(history, first, actions(["a", "b"]), schema)
    assert [e.name for e in second.new_events] == ["b"]
    assert second.checkpoint is not None and second.checkpoint._replayer is first.checkpoint._replayer  # type: ignore[union-attr]
    history = next_episode(history, second, completed(1))
    third = run_both(history, second, actions(["a", "b", "c"]), schema)
    assert [(e.name, e.event_id) for e in third.new_events] == [("c", 2)]


def test_a_timer_cancelled_after_its_race_is_no_longer_open() -> None:
    history = started()
    first = replay_actions(CTX, history, [[when_any(wait("ok"), timer())]], 1)
    assert first.open_tasks == 1  # the timer
    raised = HistoryEvent(EventType.EVENT_RAISED, timestamp="2024-01-01T00:00:03Z", name="ok", input="1")
    history = next_episode(history, first, raised)
    second = run_both(history, first, [[when_any(wait("ok"), timer(cancelled=True)), activity("after")]], 1)
    assert second.open_tasks == 1  # only the activity: the cancelled timer does not keep the instance open
    assert second.checkpoint is not None and first.checkpoint is not None
    assert second.checkpoint._replayer is first.checkpoint._replayer  # resumed, not started over
    assert [e.name for e in second.new_events] == ["after"]


def test_a_changed_earlier_action_is_replayed_from_the_start() -> None:
    history = started()
    first = replay_actions(CTX, history, [[activity("a")]], 1)
    history = next_episode(history, first, completed(0))
    with pytest.raises(NonDeterminismError) as full:
        replay_actions(CTX, history, [[activity("renamed"), activity("b")]], 1)
    assert first.checkpoint is not None
    with pytest.raises(NonDeterminismError) as resumed:
        replay_actions(CTX, history, [[activity("renamed"), activity("b")]], 1, resume=first.checkpoint)
    assert str(resumed.value) == str(full.value)


def test_another_hosts_episodes_in_between_are_claimed_by_the_new_actions() -> None:
    # The session saw episode 1; another host ran episode 2 (scheduled "b") before this host got it back.
    history = started()
    first = replay_actions(CTX, history, [[activity("a")]], 1)
    elsewhere = replay_actions(
        CTX, next_episode(history, first, completed(0)), [[activity("a"), activity("b")]], 1
    )
    history = next_episode(next_episode(history, first, completed(0)), elsewhere, completed(1))
    third = run_both(history, first, [[activity("a"), activity("b"), activity("c")]], 1)
    assert [(e.name, e.event_id) for e in third.new_events] == [("c", 2)]
