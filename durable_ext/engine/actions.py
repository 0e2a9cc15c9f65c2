"""What the SDK returns from an orchestrator episode (`OrchestratorState` JSON), parsed once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


class ActionType(IntEnum):
    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    SCHEDULED_SIGNAL_ENTITY = 10
    WHEN_ANY = 11
    WHEN_ALL = 12


_ACTION_NAMES = {t.name.replace("_", "").lower(): t for t in ActionType}


def action_type_of(action: dict[str, Any]) -> ActionType:
    """`actionType` may be an int or a name (the .NET side uses a StringEnumConverter)."""
    raw = action.get("actionType")
    if isinstance(raw, str):
        found = _ACTION_NAMES.get(raw.replace("_", "").lower())
        if found is None:
            raise ValueError(f"unknown actionType {raw!r}")
        return found
    return ActionType(int(raw))  # type: ignore[arg-type]


@dataclass(frozen=True)
class OrchestratorOutput:
    """One episode's answer. `has_output` / `has_custom_status` say whether the key was present."""

    is_done: bool
    actions: list[list[dict[str, Any]]]
    schema_version: int = 0
    output: Any = None
    has_output: bool = False
    custom_status: Any = None
    has_custom_status: bool = False
    error: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def parse_orchestrator_output(payload: Any) -> OrchestratorOutput:
    """Parse the SDK's `OrchestratorState` (JSON text or an already-decoded dict; an already parsed
    one is returned as it is)."""
    if isinstance(payload, OrchestratorOutput):
        return payload
    data = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
    if not isinstance(data, dict) or "isDone" not in data:
        raise ValueError("the orchestrator did not return an OrchestratorState object (no 'isDone')")
    actions = data.get("actions") or []
    if not all(isinstance(group, list) for group in actions):
        raise ValueError("OrchestratorState.actions must be a list of lists")
    schema = data.get("schemaVersion", 0)
    if isinstance(schema, str):
        schema = {"v1": 0, "v2": 1, "v3": 2}.get(schema.lower(), 0)
    return OrchestratorOutput(
        is_done=bool(data.get("isDone")),
        actions=actions,
        schema_version=int(schema),
        output=data.get("output"),
        has_output="output" in data,
        custom_status=data.get("customStatus"),
        has_custom_status="customStatus" in data,
        error=data.get("error") or None,
    )


@dataclass(frozen=True)
class OrchestratorFailure:
    """An exception raised out of the SDK's handle, with the state it attached, if any."""

    message: str
    state: OrchestratorOutput | None


def parse_orchestrator_exception(exc: BaseException) -> OrchestratorFailure:
    """Split `"<msg>\\n\\n$OutOfProcData$:<state json>"` (generator orchestrators) from a raw exception."""
    text = str(exc)
    head, marker, tail = text.partition(OUT_OF_PROC_MARKER)
    if not marker:
        return OrchestratorFailure(message=text or type(exc).__name__, state=None)
    tail = tail.split("\nStack:", 1)[0]
    try:
        state = parse_orchestrator_output(tail)
    except ValueError:
        return OrchestratorFailure(message=head, state=None)
    return OrchestratorFailure(message=state.error or head, state=state)
