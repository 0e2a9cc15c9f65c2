"""ReplaySchema V1: one action list per yield, each awaited as a WhenAny (sdk-protocol §2.3)."""

from __future__ import annotations

from typing import Any

import pytest

from durable_ext.engine.history import EventType, HistoryEvent
from durable_ext.engine.replay import ReplayContext, replay_actions

CTX = ReplayContext(instance_id="i", execution_id="e", name="o")


def started() -> list[HistoryEvent]:
    return [
        HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp="2024-01-01T00:00:00Z"),
        HistoryEvent(
            EventType.EXECUTION_STARTED, timestamp="2024-01-01T00:00:00Z", name="o", execution_id="e"
        ),
    ]


def activity(name: str) -> dict[str, Any]:
    return {"actionType": 0, "functionName": name, "input": "null"}


def test_v1_groups_are_invoked_one_yield_at_a_time() -> None:
    history = started()
    result = replay_actions(CTX, history, [[activity("a")], [activity("b"), activity("c")]], 0)
    assert [(e.name, e.event_id) for e in result.new_events] == [("a", 0)]
    history += result.new_events + [
        HistoryEvent(
            EventType.TASK_COMPLETED, timestamp="2024-01-01T00:00:01Z", task_scheduled_id=0, result="1"
        )
    ]
    result = replay_actions(CTX, history, [[activity("a")], [activity("b"), activity("c")]], 0)
    assert [(e.name, e.event_id) for e in result.new_events] == [("b", 1), ("c", 2)]
    assert [m.event.event_type for m in result.messages] == [EventType.TASK_SCHEDULED] * 2


def test_v2_rejects_more_than_one_action_list() -> None:
    with pytest.raises(ValueError, match="exactly one action list"):
        replay_actions(CTX, started(), [[activity("a")], [activity("b")]], 1)
