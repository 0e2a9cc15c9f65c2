"""Does this orchestrator code still replay that history? The check the host makes on every episode,
run offline: the SDK replays the history, then `replay_actions` matches what the code schedules
against what the history recorded.

    report = check_replay(my_orchestrator, app.history(instance_id))
    assert report.ok, report.message

History: DTFx JSON events (what `TestHost.history`, the store and Azure Storage History rows give after
the codec), HistoryEvent objects, a JSON file of either, or the HTTP API's status payload fetched with
`showHistory=true&showHistoryOutput=true` (rebuilt best-effort, see `http_history`).
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from ..app.spec import FunctionSpec
from ..engine.actions import (
    OrchestratorOutput,
    parse_orchestrator_exception,
    parse_orchestrator_output,
)
from ..engine.errors import NonDeterminismError
from ..engine.history import EventType, HistoryEvent, event_from_json
from ..engine.orchestration import EpisodeOptions, OrchestrationEpisode
from ..engine.replay import ReplayContext, replay_actions
from ..engine.status import STATUS_BY_CODE, InstanceState, RuntimeStatus
from .http_history import looks_like_status_history, rebuild_history

HistoryInput = Any  # see the module docstring for the accepted shapes
_REBUILT_NOTE = " (history rebuilt from the HTTP status payload: event ids are best-effort)"


@dataclass(frozen=True)
class Divergence:
    event_id: int
    expected: str  # what the history holds at that id
    actual: str  # what the code does there now


@dataclass(frozen=True)
class ReplayReport:
    ok: bool
    instance_id: str
    first_divergence: Divergence | None
    message: str
    rebuilt: bool = False  # the history came from the HTTP status payload


def check_replay(
    orchestrator: Any,
    history: HistoryInput,
    *,
    instance_id: str | None = None,
    options: EpisodeOptions | None = None,
) -> ReplayReport:
    """Replay `history` through `orchestrator` (a df.Orchestrator.create handle, the generator
    function, a v2 decorated function, or a FunctionSpec) and report the first divergence."""
    events, found_id, rebuilt = load_history(history, instance_id)
    iid = instance_id or found_id or "(unknown)"
    try:
        return _check(orchestrator_handle(orchestrator), events, iid, options or EpisodeOptions(), rebuilt)
    except ValueError as exc:
        return ReplayReport(False, iid, None, f"cannot check: {exc}", rebuilt)


def orchestrator_handle(orchestrator: Any) -> Callable[[str], Any]:
    if isinstance(orchestrator, FunctionSpec):
        orchestrator = orchestrator.func
    function = getattr(orchestrator, "_function", None)  # a v2 app's decorated name (FunctionBuilder)
    if function is not None and hasattr(function, "get_user_function"):
        orchestrator = function.get_user_function()
    if inspect.isgeneratorfunction(orchestrator):
        return df.Orchestrator.create(orchestrator)
    if callable(orchestrator):
        return orchestrator
    raise TypeError(f"{orchestrator!r} is not an orchestrator (a handle, generator function or FunctionSpec)")


def load_history(
    history: HistoryInput, instance_id: str | None = None
) -> tuple[list[HistoryEvent], str | None, bool]:
    """(events, the instance id found in them, whether they were rebuilt from a status payload)."""
    if isinstance(history, (str, os.PathLike)):
        history = json.loads(Path(history).read_text(encoding="utf-8"))
    if isinstance(history, dict):
        if "historyEvents" not in history:
            raise ValueError("a dict history must be a status payload with 'historyEvents'")
        iid = instance_id or str(history.get("instanceId") or "")
        items = list(history["historyEvents"])
        if history.get("input") is not None:  # parsed once by the API: serialise it again
            items = [_with_start_input(i, json.dumps(history["input"])) for i in items]
        return rebuild_history(items, iid), iid or None, True
    items = list(history)
    if all(isinstance(i, HistoryEvent) for i in items):
        events: list[HistoryEvent] = items
    elif looks_like_status_history(items):
        return rebuild_history(items, instance_id or ""), instance_id, True
    else:
        events = [event_from_json(i) for i in items]
    start = next((e for e in events if e.event_type == EventType.EXECUTION_STARTED), None)
    return events, start.instance_id if start else None, False


def _with_start_input(item: dict[str, Any], text: str) -> dict[str, Any]:
    if item.get("EventType") == "ExecutionStarted" and item.get("Input") is None:
        return {**item, "Input": text}
    return item


def _check(
    handle: Callable[[str], Any],
    history: list[HistoryEvent],
    instance_id: str,
    options: EpisodeOptions,
    rebuilt: bool,
) -> ReplayReport:
    note = _REBUILT_NOTE if rebuilt else ""

    def report(divergence: Divergence | None, message: str) -> ReplayReport:
        return ReplayReport(divergence is None, instance_id, divergence, message + note, rebuilt)

    start = next((e for e in history if e.event_type == EventType.EXECUTION_STARTED), None)
    if start is None:
        raise ValueError("the history has no ExecutionStarted event")
    finished = next((e for e in history if e.event_type == EventType.EXECUTION_COMPLETED), None)
    failed_before = finished is not None and _status(finished) == RuntimeStatus.FAILED

    payload = _trigger_payload(instance_id, start, history, options)
    raised: str | None = None
    try:
        output = parse_orchestrator_output(handle(payload))
    except Exception as exc:  # the orchestrator (or the SDK replaying it) raised
        failure = parse_orchestrator_exception(exc)
        raised = failure.message
        output = failure.state or OrchestratorOutput(is_done=False, actions=[])
    raised = raised or output.error

    ctx = ReplayContext(instance_id, start.execution_id or "", start.name or "")
    try:
        result = replay_actions(ctx, history, output.actions, output.schema_version)
    except NonDeterminismError as exc:
        if raised is not None and exc.actual.startswith("nothing"):
            # It stopped early because it raised: the exception is the news, not the missing calls.
            return report(
                Divergence(exc.event_id, exc.expected, f"an exception: {raised}"),
                f"The orchestrator now raises while replaying, before event id {exc.event_id}: {raised}",
            )
        return report(Divergence(exc.event_id, exc.expected, exc.actual), str(exc))
    end_id = finished.event_id if finished is not None else result.next_sequence
    if raised is not None and not failed_before:
        return report(
            Divergence(end_id, "the orchestrator going on", f"an exception: {raised}"),
            f"The orchestrator now raises while replaying: {raised}",
        )
    if finished is not None and result.new_events:
        extra = _describe(result.new_events[0])
        return report(
            Divergence(result.new_events[0].event_id, "ExecutionCompleted", extra),
            f"The history completed, but the orchestrator now schedules {extra} first.",
        )
    if finished is not None and not output.is_done and raised is None:
        return report(
            Divergence(end_id, "ExecutionCompleted", "no completion (it still waits for something)"),
            "The history completed, but the orchestrator no longer finishes there.",
        )
    replayed = sum(1 for e in history if e.event_type != EventType.ORCHESTRATOR_STARTED)
    message = f"Replays cleanly ({replayed} events)."
    if result.new_events:
        message += f" Next it schedules {', '.join(_describe(e) for e in result.new_events)}."
    return report(None, message)


def _trigger_payload(
    instance_id: str, start: HistoryEvent, history: Sequence[HistoryEvent], options: EpisodeOptions
) -> str:
    # The engine builds the SDK payload; with no new messages the episode only replays.
    created = datetime.now(timezone.utc)
    parent = ((start.parent_instance or {}).get("OrchestrationInstance") or {}).get("InstanceId")
    state = InstanceState(
        instance_id,
        start.name or "",
        start.execution_id or "",
        RuntimeStatus.RUNNING,
        created,
        created,
        input=start.input,
        parent_instance_id=parent,
    )
    episode = OrchestrationEpisode(instance_id, state, list(history), [], now=created, options=options)
    return episode.trigger_payload()


def _status(completed: HistoryEvent) -> RuntimeStatus | None:
    code = completed.orchestration_status
    return STATUS_BY_CODE.get(code) if code is not None else None


def _describe(event: HistoryEvent) -> str:
    kind = event.event_type.dtfx_name
    if event.event_type == EventType.TIMER_CREATED:
        return f"{kind} (fires at {event.fire_at})"
    if event.event_type == EventType.EVENT_SENT:
        return f"{kind} '{event.name}' to '{event.instance_id}'"
    return f"{kind} '{event.name}'"
