"""Host-side replay of the SDK's action list against the history (what DTFx + the .NET shim do).

The SDK resends every action since the execution began. To find which are new and which sequence id
each gets, we replay like DTFx: top-level actions are invoked one after another (each only once the
previous one completed, as the shim awaits them), compound children all at once, and history events
are applied in order. Retry timers and re-attempts take their ids when the failure or timer is seen.
Actions whose id has no scheduling event in the history are new decisions.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .actions import ActionType, action_type_of
from .errors import NonDeterminismError
from .history import SCHEDULING_EVENTS, EventType, HistoryEvent, format_timestamp, parse_timestamp
from .messages import TaskMessage
from .tracecontext import TRACE_CONTEXT_KEY, orchestration_trace_context

HTTP_ACTIVITY_NAME = "BuiltIn::HttpActivity"
DEFAULT_MAX_RETRY_INTERVAL = timedelta(days=6)
# Namespace for entity request ids, so a replayed episode produces the same id.
_REQUEST_ID_NAMESPACE = uuid.UUID("9e952959-5e33-4daf-827f-2fa12937b875")

_TASK_KINDS = {
    ActionType.CALL_ACTIVITY,
    ActionType.CALL_ACTIVITY_WITH_RETRY,
    ActionType.CALL_HTTP,
}
_SUB_KINDS = {ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY}
_RETRY_KINDS = {ActionType.CALL_ACTIVITY_WITH_RETRY, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY}


@dataclass(frozen=True)
class ReplayContext:
    instance_id: str
    execution_id: str
    name: str
    store_inputs_in_history: bool = False
    trace_parent: str | None = None  # this orchestration's own span, for the work it starts (tracing on)


@dataclass(eq=False)
class _Node:
    kind: ActionType | None  # None: a V1 group (one yield's actions, awaited with WhenAny)
    action: dict[str, Any]
    children: list[_Node] = field(default_factory=list)
    parent: _Node | None = None
    done: bool = False
    attempts: int = 0  # retry nodes: failed attempts so far
    finished_children: int = 0

    @property
    def completes_on_any(self) -> bool:
        return self.kind is None or self.kind == ActionType.WHEN_ANY


@dataclass
class ReplayResult:
    new_events: list[HistoryEvent]
    messages: list[TaskMessage]
    open_tasks: int  # outstanding activities, sub-orchestrations and uncancelled timers
    next_sequence: int
    continue_as_new: dict[str, Any] | None
    unconsumed_events: list[HistoryEvent]  # EventRaised nobody waited for (carried over on ContinueAsNew)
    checkpoint: ReplayCheckpoint | None = None  # to resume from at the next episode (extended sessions)


class _CannotResume(Exception):
    """The actions changed in a way only a replay from the start can follow."""


def _build_tree(action: dict[str, Any], parent: _Node | None) -> _Node:
    kind = action_type_of(action)
    node = _Node(kind=kind, action=action, parent=parent)
    if kind in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
        node.children = [_build_tree(child, node) for child in action.get("compoundActions") or []]
    return node


def top_level_nodes(actions: list[list[dict[str, Any]]], schema_version: int) -> list[_Node]:
    """V2/V3 send one flat list; V1 sends one list per yield, each awaited as a WhenAny."""
    if schema_version >= 1:
        if len(actions) > 1:
            raise ValueError(
                f"schema V{schema_version + 1} requires exactly one action list, got {len(actions)}"
            )
        return [_build_tree(a, None) for a in (actions[0] if actions else [])]
    return [_group(group) for group in actions]


def _group(actions: list[dict[str, Any]]) -> _Node:
    node = _Node(kind=None, action={})
    node.children = [_build_tree(a, node) for a in actions]
    return node


def _without(action: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in action.items() if k != key}


class ReplayCheckpoint:
    """A replayer as the last episode left it. Resumed with the next episode's (longer) history and
    actions it gives exactly what replaying from the start gives; otherwise the replay starts over."""

    def __init__(self, replayer: _Replayer) -> None:
        self._replayer = replayer

    def resume(
        self,
        ctx: ReplayContext,
        history: Sequence[HistoryEvent],
        actions: list[list[dict[str, Any]]],
        schema_version: int,
    ) -> ReplayResult | None:
        replayer = self._replayer
        if replayer.ctx != ctx or len(history) < replayer.applied:
            return None
        try:
            replayer.extend(actions, schema_version)
        except _CannotResume:
            return None
        return replayer.run(history)


class _Replayer:
    """Replays actions against history. It can be run again with a longer history and longer action
    lists (`extend`): applying only what is new gives what a replay from the start would give."""

    def __init__(self, ctx: ReplayContext, top: list[_Node], seen: list[Any], now: str) -> None:
        self.ctx = ctx
        self.top = top
        self.seen = seen  # the top-level actions (V1: groups) the nodes were built from
        self.cursor = 0
        self.sequence = 0
        self.now = now
        self.applied = 0  # history events applied so far
        self.started = False
        self.scheduled: dict[int, HistoryEvent] = {}
        self.unclaimed: set[int] = set()  # scheduling events in the history no action claimed yet
        self.emitted: set[int] = set()  # ids of the scheduling events the last run created
        self.waiting: dict[int, tuple[_Node, str]] = {}  # sequence id -> (node, role)
        self.event_waiters: dict[str, deque[_Node]] = {}
        self.entity_waiters: dict[str, _Node] = {}
        self.buffered: dict[str, deque[HistoryEvent]] = {}
        self.new_events: list[HistoryEvent] = []
        self.messages: list[TaskMessage] = []
        self.continue_as_new: dict[str, Any] | None = None
        self.request_counter = 0

    # -- driving ---------------------------------------------------------------------------------
    def run(self, history: Sequence[HistoryEvent]) -> ReplayResult:
        self.new_events, self.messages, self.continue_as_new = [], [], None
        fresh = history[self.applied :]
        # Every scheduling event is known before any is claimed: an action is invoked when the one
        # before it completes, which comes earlier in the history than its own scheduling event.
        for event in fresh:
            if event.event_type in SCHEDULING_EVENTS and event.event_id not in self.emitted:
                self.scheduled[event.event_id] = event
                self.unclaimed.add(event.event_id)
        for event in fresh:
            etype = event.event_type
            if etype == EventType.ORCHESTRATOR_STARTED:
                self.now = event.timestamp
            elif etype == EventType.EXECUTION_STARTED:
                self.started = True
            elif etype in (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED):
                self._on_task_done(event.task_scheduled_id, ok=True)
            elif etype in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
                self._on_task_done(event.task_scheduled_id, ok=False)
            elif etype == EventType.TIMER_FIRED:
                self._on_timer_fired(event.timer_id)
            elif etype == EventType.EVENT_RAISED:
                self._on_event_raised(event)
            if self.started:
                self._advance()
        self.applied = len(history)
        if self.unclaimed:
            ev = self.scheduled[min(self.unclaimed)]
            raise NonDeterminismError(
                event_id=ev.event_id,
                expected=f"{ev.event_type.dtfx_name} '{ev.name or ev.instance_id}'",
                actual="nothing (the orchestrator no longer schedules it)",
            )
        # What this run created is in the next run's history, already claimed by its action.
        self.emitted = {e.event_id for e in self.new_events if e.event_type in SCHEDULING_EVENTS}
        unconsumed = [e for queue in self.buffered.values() for e in queue]
        open_tasks = sum(1 for node, role in self.waiting.values() if role != "entity")
        return ReplayResult(
            new_events=self.new_events,
            messages=self.messages,
            open_tasks=open_tasks,
            next_sequence=self.sequence,
            continue_as_new=self.continue_as_new,
            unconsumed_events=unconsumed,
            checkpoint=ReplayCheckpoint(self),
        )

    def extend(self, actions: list[list[dict[str, Any]]], schema_version: int) -> None:
        """Take the SDK's actions of a later episode: earlier ones must be unchanged (a timer may have
        been cancelled since), later ones become new top-level nodes."""
        listed: list[Any] = (actions[0] if actions else []) if schema_version >= 1 else list(actions)
        if schema_version >= 1 and len(actions) > 1:
            raise _CannotResume
        if len(listed) < len(self.seen):
            raise _CannotResume
        # Extended sessions hand the same objects again: one C-level comparison (identity first) covers
        # the usual case of nothing changed, and only otherwise is each action looked at.
        unchanged = listed[: len(self.seen)] == self.seen
        for index, (before, now) in enumerate(zip([] if unchanged else self.seen, listed, strict=False)):
            if before is not now and before != now:
                if schema_version >= 1:
                    self._refresh(self.top[index], now)
                else:
                    self._refresh_group(self.top[index], now)
        for item in listed[len(self.seen) :]:
            if schema_version >= 1:
                self.top.append(_build_tree(item, None))
            else:
                self.top.append(_group(item))
        self.seen = listed

    def _refresh_group(self, group: _Node, actions: list[dict[str, Any]]) -> None:
        if len(actions) != len(group.children):
            raise _CannotResume
        for child, action in zip(group.children, actions, strict=True):
            self._refresh(child, action)

    def _refresh(self, node: _Node, action: dict[str, Any]) -> None:
        if node.action == action:
            return
        if node.kind in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            if _without(node.action, "compoundActions") != _without(action, "compoundActions"):
                raise _CannotResume
            node.action = action
            self._refresh_group(node, list(action.get("compoundActions") or []))
            return
        cancelled = node.kind == ActionType.CREATE_TIMER and bool(action.get("isCanceled"))
        if not cancelled or _without(node.action, "isCanceled") != _without(action, "isCanceled"):
            raise _CannotResume
        # Cancelled since it was invoked: no longer an open timer, as a replay with the flag has it.
        node.action = action
        for seq, (waiter, role) in list(self.waiting.items()):
            if waiter is node and role == "timer":
                del self.waiting[seq]
                self._finish(node)

    def _advance(self) -> None:
        while self.cursor < len(self.top):
            if self.cursor > 0 and not self.top[self.cursor - 1].done:
                return
            node = self.top[self.cursor]
            self.cursor += 1
            self._invoke(node)

    def _finish(self, node: _Node) -> None:
        if node.done:
            return
        node.done = True
        parent = node.parent
        if parent is None or parent.done:
            return
        parent.finished_children += 1  # counted, not rescanned: a 1,000-way fan-in stays linear
        if parent.completes_on_any or parent.finished_children == len(parent.children):
            self._finish(parent)

    # -- invoking actions ------------------------------------------------------------------------
    def _invoke(self, node: _Node) -> None:
        kind = node.kind
        if kind is None or kind in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            for child in node.children:
                self._invoke(child)
            if not node.children or (
                any(c.done for c in node.children)
                if node.completes_on_any
                else all(c.done for c in node.children)
            ):
                self._finish(node)
        elif kind in _TASK_KINDS:
            self._schedule_task(node)
        elif kind in _SUB_KINDS:
            self._schedule_sub_orchestration(node)
        elif kind == ActionType.CREATE_TIMER:
            self._create_timer(node)
        elif kind == ActionType.WAIT_FOR_EXTERNAL_EVENT:
            self._wait_for_event(node)
        elif kind in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY, ActionType.SCHEDULED_SIGNAL_ENTITY):
            self._send_entity_request(node)
        elif kind == ActionType.CONTINUE_AS_NEW:
            self.continue_as_new = node.action
            self._finish(node)

    def _next_id(self) -> int:
        seq = self.sequence
        self.sequence += 1
        return seq

    def _claim(self, seq: int, expected_type: EventType, name: str | None) -> HistoryEvent | None:
        """The history's event for `seq`, checked against what the code now schedules; None if new."""
        event = self.scheduled.get(seq)
        if event is None or seq not in self.unclaimed:
            return None
        recorded = event.name if expected_type != EventType.EVENT_SENT else event.instance_id
        if event.event_type != expected_type or (name or "").lower() != (recorded or "").lower():
            raise NonDeterminismError(
                event_id=seq,
                expected=f"{event.event_type.dtfx_name} '{recorded}'",
                actual=f"{expected_type.dtfx_name} '{name}'",
            )
        self.unclaimed.discard(seq)
        return event

    def _schedule_task(self, node: _Node) -> None:
        seq = self._next_id()
        payload: str | None
        if node.kind == ActionType.CALL_HTTP:
            name = HTTP_ACTIVITY_NAME
            payload = json.dumps(node.action.get("httpRequest"))
        else:
            name = str(node.action.get("functionName"))
            payload = node.action.get("input")
        self.waiting[seq] = (node, "task")
        if self._claim(seq, EventType.TASK_SCHEDULED, name) is not None:
            return
        work_input = json.dumps([payload])
        event = HistoryEvent(
            EventType.TASK_SCHEDULED,
            event_id=seq,
            timestamp=self.now,
            name=name,
            version="",
            input=work_input if self.ctx.store_inputs_in_history else None,
        )
        self.new_events.append(event)
        work_item = HistoryEvent(
            EventType.TASK_SCHEDULED,
            event_id=seq,
            timestamp=self.now,
            name=name,
            version="",
            input=work_input,
            extras={TRACE_CONTEXT_KEY: {"TraceParent": self.ctx.trace_parent}}
            if self.ctx.trace_parent
            else {},
        )
        self.messages.append(TaskMessage(self.ctx.instance_id, work_item, execution_id=self.ctx.execution_id))

    def _schedule_sub_orchestration(self, node: _Node) -> None:
        seq = self._next_id()
        name = str(node.action.get("functionName"))
        self.waiting[seq] = (node, "task")
        if self._claim(seq, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, name) is not None:
            return
        child_id = node.action.get("instanceId") or f"{self.ctx.execution_id}:{seq}"
        child_input = node.action.get("input")
        stored_input = json.dumps(child_input) if child_input is not None else None
        version = node.action.get("version") or ""
        self.new_events.append(
            HistoryEvent(
                EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
                event_id=seq,
                timestamp=self.now,
                name=name,
                version=version,
                instance_id=child_id,
                input=stored_input if self.ctx.store_inputs_in_history else None,
            )
        )
        parent = {
            "Name": self.ctx.name,
            "OrchestrationInstance": {
                "InstanceId": self.ctx.instance_id,
                "ExecutionId": self.ctx.execution_id,
            },
            "TaskScheduleId": seq,
            "Version": "",
        }
        start = HistoryEvent(
            EventType.EXECUTION_STARTED,
            timestamp=self.now,
            name=name,
            version=version,
            input=stored_input,
            instance_id=child_id,
            execution_id=uuid.uuid4().hex,
            parent_instance=parent,
            generation=0,
            extras={TRACE_CONTEXT_KEY: orchestration_trace_context(self.ctx.trace_parent)}
            if self.ctx.trace_parent
            else {},
        )
        self.messages.append(TaskMessage(child_id, start, execution_id=start.execution_id))

    def _create_timer(self, node: _Node, fire_at: str | None = None, role: str = "timer") -> int:
        seq = self._next_id()
        canceled = role == "timer" and bool(node.action.get("isCanceled"))
        if not canceled:
            self.waiting[seq] = (node, role)
        existing = self._claim(seq, EventType.TIMER_CREATED, None)
        if existing is None:
            fire_text = fire_at or format_timestamp(parse_timestamp(str(node.action.get("fireAt"))))
            self.new_events.append(
                HistoryEvent(EventType.TIMER_CREATED, event_id=seq, timestamp=self.now, fire_at=fire_text)
            )
            fired = HistoryEvent(EventType.TIMER_FIRED, timestamp=self.now, timer_id=seq, fire_at=fire_text)
            self.messages.append(
                TaskMessage(
                    self.ctx.instance_id,
                    fired,
                    execution_id=self.ctx.execution_id,
                    visible_at=parse_timestamp(fire_text),
                )
            )
        if canceled:
            self._finish(node)
        return seq

    def _wait_for_event(self, node: _Node) -> None:
        key = str(node.action.get("externalEventName", "")).lower()
        buffered = self.buffered.get(key)
        if buffered:
            buffered.popleft()
            self._finish(node)
            return
        self.event_waiters.setdefault(key, deque()).append(node)

    def _send_entity_request(self, node: _Node) -> None:
        seq = self._next_id()
        target = str(node.action.get("instanceId"))
        operation = str(node.action.get("operation"))
        is_call = node.kind == ActionType.CALL_ENTITY
        existing = self._claim(seq, EventType.EVENT_SENT, target)
        if existing is not None:
            request_id = str(json.loads(existing.input or "{}").get("id", ""))
        else:
            request_id = str(uuid.uuid5(_REQUEST_ID_NAMESPACE, f"{self.ctx.instance_id}_{self.now}_{seq}"))
            request: dict[str, Any] = {
                "op": operation,
                "id": request_id,
                "input": json.dumps(node.action.get("input")),
                "parent": self.ctx.instance_id if is_call else None,
                "parentExecution": self.ctx.execution_id if is_call else None,
            }
            event_name = operation
            visible_at = None
            if not is_call:
                request["signal"] = True
            if node.kind == ActionType.SCHEDULED_SIGNAL_ENTITY and node.action.get("fireAt"):
                fire_text = format_timestamp(parse_timestamp(str(node.action["fireAt"])))
                request["due"] = fire_text
                event_name = f"{operation}@{fire_text}"
                visible_at = parse_timestamp(fire_text)
            body = json.dumps(request)
            self.new_events.append(
                HistoryEvent(
                    EventType.EVENT_SENT,
                    event_id=seq,
                    timestamp=self.now,
                    name=event_name,
                    instance_id=target,
                    input=body,
                )
            )
            raised = HistoryEvent(EventType.EVENT_RAISED, timestamp=self.now, name=event_name, input=body)
            self.messages.append(TaskMessage(target, raised, visible_at=visible_at))
        if is_call:
            self.waiting[seq] = (node, "entity")
            self.entity_waiters[request_id] = node
        else:
            self._finish(node)

    # -- applying history ------------------------------------------------------------------------
    def _on_task_done(self, seq: int | None, *, ok: bool) -> None:
        entry = self.waiting.get(seq) if seq is not None else None
        if entry is None or entry[1] != "task":
            return  # a duplicate, or the completion of something no longer awaited
        node, _ = entry
        del self.waiting[seq]  # type: ignore[arg-type]
        if ok or node.kind not in _RETRY_KINDS:
            self._finish(node)
            return
        node.attempts += 1
        options = node.action.get("retryOptions") or {}
        max_attempts = int(options.get("maxNumberOfAttempts", 1))
        if node.attempts < max_attempts:
            delay = _retry_delay(options, node.attempts - 1)
            fire = format_timestamp(parse_timestamp(self.now) + delay)
            self._create_timer(node, fire_at=fire, role="retry")
        else:
            # DTFx still creates one immediate "back-compat" timer before failing; the SDK waits for it.
            self._create_timer(node, fire_at=self.now, role="final")

    def _on_timer_fired(self, seq: int | None) -> None:
        entry = self.waiting.pop(seq, None) if seq is not None else None
        if entry is None:
            return
        node, role = entry
        if role == "retry":
            if node.kind in _SUB_KINDS:
                self._schedule_sub_orchestration(node)
            else:
                self._schedule_task(node)
        else:
            self._finish(node)

    def _on_event_raised(self, event: HistoryEvent) -> None:
        name = event.name or ""
        entity_node = self.entity_waiters.pop(name, None)
        if entity_node is not None:
            for seq, (node, _) in list(self.waiting.items()):
                if node is entity_node:
                    del self.waiting[seq]
            self._finish(entity_node)
            return
        waiters = self.event_waiters.get(name.lower())
        if waiters:
            self._finish(waiters.popleft())
        else:
            self.buffered.setdefault(name.lower(), deque()).append(event)


def _retry_delay(options: dict[str, Any], attempt_index: int) -> timedelta:
    first_ms = float(options.get("firstRetryIntervalInMilliseconds", 0))
    backoff = float(options.get("backoffCoefficient") or 1.0)
    max_ms = options.get("maxRetryIntervalInMilliseconds")
    delay = timedelta(milliseconds=first_ms * (backoff**attempt_index))
    cap = timedelta(milliseconds=float(max_ms)) if max_ms else DEFAULT_MAX_RETRY_INTERVAL
    return min(delay, cap)


def replay_actions(
    ctx: ReplayContext,
    history: Sequence[HistoryEvent],
    actions: list[list[dict[str, Any]]],
    schema_version: int,
    *,
    resume: ReplayCheckpoint | None = None,
) -> ReplayResult:
    """Replay `actions` against `history` (past and this episode's events) and return the new decisions.

    `resume`: the checkpoint of the previous episode's replay, when the SDK's side continued from it too
    (extended sessions); only what is new is applied."""
    if resume is not None:
        resumed = resume.resume(ctx, history, actions, schema_version)
        if resumed is not None:
            return resumed
    top = top_level_nodes(actions, schema_version)
    seen: list[Any] = (actions[0] if actions else []) if schema_version >= 1 else list(actions)
    return _Replayer(ctx, top, seen, history[0].timestamp if history else "").run(history)
