"""Histories in the DTFx JSON format, replayed through the engine and the SDK with no I/O."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from durable_ext.engine.history import event_from_json, event_to_json
from durable_ext.engine.messages import TaskMessage
from durable_ext.engine.orchestration import OrchestrationEpisode
from durable_ext.engine.status import InstanceState, RuntimeStatus

FIXTURES = Path(__file__).parent / "fixtures"


def hello_cities(context: df.DurableOrchestrationContext):
    results = []
    for city in context.get_input():
        results.append((yield context.call_activity("SayHello", city)))
    return results


def hello_cities_reordered(context: df.DurableOrchestrationContext):
    yield context.call_activity("Farewell", "x")
    return []


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def episode_for(fixture: dict[str, Any]) -> OrchestrationEpisode:
    inst = fixture["instance"]
    created = datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    state = InstanceState(
        inst["instanceId"], inst["name"], inst["executionId"], RuntimeStatus.RUNNING, created, created
    )
    history = [event_from_json(e) for e in fixture["history"]]
    message = TaskMessage(
        inst["instanceId"], event_from_json(fixture["arriving"]), execution_id=inst["executionId"]
    )
    return OrchestrationEpisode(
        inst["instanceId"], state, history, [message], now=datetime(2024, 5, 1, 10, 0, 2, tzinfo=timezone.utc)
    )


def test_codec_round_trips_dtfx_json() -> None:
    for raw in load("hello_cities_midflight.json")["history"]:
        encoded = event_to_json(event_from_json(raw))
        for key, value in raw.items():
            if value is not None:
                assert encoded[key] == value, key


def test_recorded_history_completes_with_the_sdk() -> None:
    fixture = load("hello_cities_midflight.json")
    episode = episode_for(fixture)
    payload = json.loads(episode.trigger_payload())
    # Timestamps are re-sent exactly as recorded, 7 fraction digits included.
    assert payload["history"][4]["Timestamp"] == "2024-05-01T10:00:01.1234567Z"
    assert payload["input"] == '["Tokyo", "Seattle"]'
    episode.apply_result(df.Orchestrator.create(hello_cities)(episode.trigger_payload()))
    commit = episode.commit()
    assert commit.instance is not None
    assert commit.instance.runtime_status == RuntimeStatus.COMPLETED
    assert json.loads(commit.instance.output or "") == ["Hello Tokyo!", "Hello Seattle!"]
    assert [e.event_type.dtfx_name for e in commit.history] == [
        "OrchestratorStarted",
        "TaskCompleted",
        "ExecutionCompleted",
        "OrchestratorCompleted",
    ]
    assert commit.messages == []


def test_recorded_history_flags_changed_code() -> None:
    episode = episode_for(load("hello_cities_midflight.json"))
    episode.apply_result(df.Orchestrator.create(hello_cities_reordered)(episode.trigger_payload()))
    state = episode.commit().instance
    assert state is not None and state.runtime_status == RuntimeStatus.FAILED
    assert "has TaskScheduled 'SayHello' at event id 0" in (state.output or "")
    assert "schedules TaskScheduled 'Farewell'" in (state.output or "")
