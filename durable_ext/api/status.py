"""The status JSON the HTTP API returns for an instance (sdk-protocol §5.5), history included on request."""

from __future__ import annotations

import json
from typing import Any

from ..engine.history import EventType, HistoryEvent, event_to_json, format_status_time
from ..engine.status import STATUS_BY_CODE, InstanceState


def parse_stored(text: str | None) -> Any:
    """Stored values are JSON text, parsed once; text that is not JSON (a reason, an error) stays text."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def status_payload(
    state: InstanceState,
    *,
    show_input: bool = True,
    history: list[HistoryEvent] | None = None,
    show_history_output: bool = False,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": state.name,
        "instanceId": state.instance_id,
        "runtimeStatus": state.runtime_status.value,
        "input": parse_stored(state.input) if show_input else None,
        "customStatus": parse_stored(state.custom_status),
        "output": parse_stored(state.output),
        "createdTime": format_status_time(state.created_time),
        "lastUpdatedTime": format_status_time(state.last_updated_time),
    }
    if history is not None:
        payload["historyEvents"] = history_payload(
            history, show_input=show_input, show_output=show_history_output
        )
    return payload


_DROPPED = {EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED}
_MERGED_INTO_COMPLETION = {EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED}
_COMPLETIONS = {
    EventType.TASK_COMPLETED,
    EventType.TASK_FAILED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
}


def history_payload(
    history: list[HistoryEvent], *, show_input: bool, show_output: bool
) -> list[dict[str, Any]]:
    """The public shape: names for EventType, schedules merged into their completions, internals removed."""
    scheduled = {e.event_id: e for e in history if e.event_type in _MERGED_INTO_COMPLETION}
    out: list[dict[str, Any]] = []
    for event in history:
        if event.event_type in _DROPPED:
            continue
        if event.event_type in _MERGED_INTO_COMPLETION and any(
            e.event_type in _COMPLETIONS and e.task_scheduled_id == event.event_id for e in history
        ):
            continue
        item = event_to_json(event)
        item["EventType"] = event.event_type.dtfx_name
        for key in ("EventId", "IsPlayed"):
            item.pop(key, None)
        if event.event_type == EventType.EXECUTION_STARTED:
            item["FunctionName"] = item.pop("Name", None)
            for key in ("OrchestrationInstance", "ParentInstance", "Version", "Tags", "Generation"):
                item.pop(key, None)
        elif event.event_type == EventType.EXECUTION_COMPLETED and event.orchestration_status is not None:
            status = STATUS_BY_CODE.get(event.orchestration_status)
            item["OrchestrationStatus"] = status.value if status else event.orchestration_status
        elif event.event_type == EventType.TIMER_FIRED:
            item.pop("TimerId", None)
        elif event.event_type in _COMPLETIONS:
            origin = scheduled.get(event.task_scheduled_id if event.task_scheduled_id is not None else -2)
            item.pop("TaskScheduledId", None)
            if origin is not None:
                item["FunctionName"] = origin.name
                item["ScheduledTime"] = origin.timestamp
                if show_input and origin.input is not None:
                    item["Input"] = parse_stored(origin.input)
        if "Result" in item:
            if show_output:
                item["Result"] = parse_stored(item["Result"])
            else:
                item.pop("Result")
        if not show_input:
            item.pop("Input", None)
        out.append(item)
    return out
