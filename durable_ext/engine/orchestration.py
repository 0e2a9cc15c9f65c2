"""One orchestration episode, as pure code: reconcile new messages with the stored state, build the
SDK's trigger payload, and turn the SDK's answer into history, outbound messages and a new status.

Usage (the dispatcher's loop; ContinueAsNew makes `needs_invoke` true again for the new generation):

    episode = OrchestrationEpisode(instance, history, messages, now=clock.now(), options=...)
    while episode.needs_invoke:
        episode.apply_result(invoke(episode.trigger_payload()))   # or apply_exception(exc)
    commit(episode.commit())
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import chain
from typing import Any

from .actions import OrchestratorOutput, parse_orchestrator_exception, parse_orchestrator_output
from .errors import NonDeterminismError
from .history import EventType, HistoryEvent, JoinedHistory, dumps_event, format_timestamp, parse_timestamp
from .messages import TaskMessage
from .replay import ReplayCheckpoint, ReplayContext, ReplayResult, replay_actions
from .status import STATUS_BY_CODE, InstanceState, RuntimeStatus
from .tracecontext import TRACE_CONTEXT_KEY, own_trace_parent

_COMPLETIONS_BY_ID = {
    EventType.TASK_COMPLETED: "task_scheduled_id",
    EventType.TASK_FAILED: "task_scheduled_id",
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: "task_scheduled_id",
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: "task_scheduled_id",
    EventType.TIMER_FIRED: "timer_id",
}
_REWINDABLE_SCHEDULES = {EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED}
_SCHEDULER_OF = {
    EventType.TASK_COMPLETED: EventType.TASK_SCHEDULED,
    EventType.TASK_FAILED: EventType.TASK_SCHEDULED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    EventType.TIMER_FIRED: EventType.TIMER_CREATED,
}


@dataclass(frozen=True)
class EpisodeOptions:
    store_inputs_in_history: bool = False
    # TimeSpan texts the SDK uses to split long timers; "00:00:00" disables splitting.
    long_running_timer_interval: str = "00:00:00"
    maximum_short_timer_duration: str = "00:00:00"
    tracing: bool = False  # carry W3C trace context to activities and sub-orchestrations


@dataclass(frozen=True)
class DroppedMessage:
    message: TaskMessage
    reason: str


@dataclass
class EpisodeCommit:
    """What to persist atomically for this episode."""

    instance: InstanceState | None  # None: nothing to write (every message was dropped)
    history: list[HistoryEvent]  # events to append, or the whole history when `replaces_history`
    replaces_history: bool
    messages: list[TaskMessage]
    dropped: list[DroppedMessage] = field(default_factory=list)
    deferred: list[TaskMessage] = field(default_factory=list)  # not yet applicable: redeliver later


def _played(event: HistoryEvent) -> HistoryEvent:
    return event.with_played(event.event_type != EventType.ORCHESTRATOR_STARTED)


class OrchestrationEpisode:
    def __init__(
        self,
        instance_id: str,
        instance: InstanceState | None,
        history: list[HistoryEvent],
        messages: list[TaskMessage],
        *,
        now: datetime,
        options: EpisodeOptions | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.options = options or EpisodeOptions()
        self.now = now
        self.now_text = format_timestamp(now)
        # Stored as given: IsPlayed is normalised where it shows (the SDK payload, a rewritten history),
        # not by copying the whole history every episode.
        self.past: list[HistoryEvent] = history
        self.new: list[HistoryEvent] = []
        self.out_messages: list[TaskMessage] = []
        self.dropped: list[DroppedMessage] = []
        self.deferred: list[TaskMessage] = []
        self.replaces_history = False
        self.needs_invoke = False
        self.state = instance
        self._last_replay: ReplayResult | None = None
        # Extended sessions: the previous episode's replay, set when the SDK continued from its
        # session too; used by the next `apply_result` only.
        self.resume_replay: ReplayCheckpoint | None = None
        self._reconcile(messages)

    # -- reconciling messages with the stored state -----------------------------------------------
    def _started_event(self) -> HistoryEvent | None:
        # It is near the front: a chain stops there, where a joined copy would cost O(history) each call.
        for event in chain(self.past, self.new):
            if event.event_type == EventType.EXECUTION_STARTED:
                return event
        return None

    def _drop(self, message: TaskMessage, reason: str) -> None:
        self.dropped.append(DroppedMessage(message, reason))

    def _reconcile(self, messages: list[TaskMessage]) -> None:
        starts = [m for m in messages if m.event.event_type == EventType.EXECUTION_STARTED]
        others = [m for m in messages if m.event.event_type != EventType.EXECUTION_STARTED]
        current = self._started_event()
        for start in starts:
            # A new execution replaces the old one only if the instance row was reset for it (a client
            # start over a finished instance) or the old one is finished; otherwise it is a duplicate.
            restartable = current is None or (
                start.event.execution_id != current.execution_id
                and (
                    self.state is None
                    or self.state.runtime_status.is_terminal
                    or self.state.execution_id == start.event.execution_id
                )
            )
            if restartable:
                self._begin_execution(start.event)
                current = start.event
            else:
                self._drop(start, "duplicate start event")
        if current is None:
            if self.state is not None and self.state.runtime_status == RuntimeStatus.PENDING:
                # A scheduled or delayed start is on its way: keep these until it arrives.
                self.deferred.extend(others)
                return
            for message in others:
                self._drop(message, "no such instance")
            return
        rewinds = [m for m in others if m.event.event_type == EventType.EXECUTION_REWOUND]
        if rewinds:
            others = [m for m in others if m.event.event_type != EventType.EXECUTION_REWOUND]
            if self.state is not None and self.state.runtime_status == RuntimeStatus.FAILED:
                self._rewind(rewinds[0].event)
            else:
                for message in rewinds:
                    self._drop(message, "only a Failed instance can be rewound")
        if self.state is not None and self.state.runtime_status.is_terminal and not self.replaces_history:
            for message in others:
                self._drop(message, f"instance is {self.state.runtime_status.value}")
            return

        accepted: list[HistoryEvent] = []
        # (type, id) of completions already in the history, and ids of scheduling events, for O(1) checks;
        # built only when a completion arrives (an episode of external events needs neither).
        completed: set[tuple[EventType, int | None]] = set()
        scheduled: set[tuple[EventType, int]] = set()
        if any(m.event.event_type in _COMPLETIONS_BY_ID for m in others):
            for known_event in chain(self.past, self.new):
                attr = _COMPLETIONS_BY_ID.get(known_event.event_type)
                if attr is not None:
                    completed.add((known_event.event_type, getattr(known_event, attr)))
                else:
                    scheduled.add((known_event.event_type, known_event.event_id))
        for message in others:
            event = message.event
            if message.execution_id and message.execution_id != current.execution_id:
                self._drop(message, "message for another execution")
                continue
            id_attr = _COMPLETIONS_BY_ID.get(event.event_type)
            if id_attr is not None:
                ref = getattr(event, id_attr)
                if (event.event_type, ref) in completed:
                    self._drop(message, f"duplicate {event.event_type.dtfx_name} for id {ref}")
                    continue
                if (_SCHEDULER_OF[event.event_type], ref) not in scheduled:
                    self.deferred.append(message)
                    continue
                completed.add((event.event_type, ref))
            accepted.append(event.with_played(False))
        if not self.replaces_history and not accepted and not self.new:
            return
        if not self.new:
            self.new.append(self._orchestrator_started())
        self.new.extend(accepted)
        self._apply_control_events()

    def _rewind(self, request: HistoryEvent) -> None:
        """Re-run a failed instance's failed work: the failures, the tasks that failed and the final
        ExecutionCompleted become GenericEvents, so replay schedules those tasks again at the same ids."""
        assert self.state is not None
        failed = {
            e.task_scheduled_id
            for e in self.past
            if e.event_type in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED)
        }

        def rewound(event: HistoryEvent) -> bool:
            etype = event.event_type
            return (
                etype in (EventType.EXECUTION_COMPLETED, EventType.TASK_FAILED)
                or etype == EventType.SUB_ORCHESTRATION_INSTANCE_FAILED
                or (etype in _REWINDABLE_SCHEDULES and event.event_id in failed)
            )

        self.past = [
            HistoryEvent(
                EventType.GENERIC_EVENT,
                timestamp=e.timestamp,
                is_played=True,
                extras={"Data": f"Rewound: {e.event_type.dtfx_name} {e.name or ''}".strip()},
            )
            if rewound(e)
            else e
            for e in self.past
        ]
        self.replaces_history = True  # earlier rows changed: the whole history is rewritten
        self.new.append(self._orchestrator_started())
        self.new.append(
            HistoryEvent(
                EventType.EXECUTION_REWOUND,
                timestamp=self.now_text,
                reason=request.reason,
                instance_id=self.instance_id,
                execution_id=self.state.execution_id,
            )
        )
        self.state = replace(
            self.state,
            runtime_status=RuntimeStatus.RUNNING,
            output=None,
            completed_time=None,
            last_updated_time=self.now,
        )

    def _orchestrator_started(self) -> HistoryEvent:
        return HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp=self.now_text)

    def _begin_execution(self, start: HistoryEvent) -> None:
        """A new execution: history restarts at [OrchestratorStarted, ExecutionStarted]."""
        previous = self.state
        self.past = []
        self.new = [self._orchestrator_started(), replace(start, is_played=False)]
        self.replaces_history = True
        parent = (start.parent_instance or {}).get("OrchestrationInstance") or {}
        self.state = InstanceState(
            instance_id=self.instance_id,
            name=start.name or "",
            execution_id=start.execution_id or uuid.uuid4().hex,
            runtime_status=RuntimeStatus.RUNNING,
            created_time=previous.created_time if previous is not None else self.now,
            last_updated_time=self.now,
            input=start.input,
            version=start.version or "",
            parent_instance_id=parent.get("InstanceId"),
        )

    def _apply_control_events(self) -> None:
        """Terminate, suspend and resume act on the instance without running user code."""
        assert self.state is not None
        status = self.state.runtime_status
        for event in self.new:
            if event.event_type == EventType.EXECUTION_TERMINATED:
                self._complete(RuntimeStatus.TERMINATED, event.input, sequence=-1)
                return
            if event.event_type == EventType.EXECUTION_SUSPENDED and not status.is_terminal:
                status = RuntimeStatus.SUSPENDED
            elif event.event_type == EventType.EXECUTION_RESUMED and status == RuntimeStatus.SUSPENDED:
                status = RuntimeStatus.RUNNING
        self.state = replace(self.state, runtime_status=status, last_updated_time=self.now)
        self.needs_invoke = status != RuntimeStatus.SUSPENDED

    # -- the SDK side ------------------------------------------------------------------------------
    def trigger_payload(self) -> str:
        """The JSON the orchestrationTrigger binding hands the SDK (sdk-protocol §1)."""
        assert self.state is not None
        start = self._started_event()
        assert start is not None
        payload: dict[str, Any] = {
            "input": _trigger_input(start.input),
            "instanceId": self.instance_id,
            "isReplaying": bool(self.past),
            "parentInstanceId": self.state.parent_instance_id,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
            "longRunningTimerIntervalDuration": self.options.long_running_timer_interval,
            "maximumShortTimerDuration": self.options.maximum_short_timer_duration,
            "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
        }
        # Spliced from each event's cached JSON text rather than re-encoding the whole history.
        history = ",".join(
            [*(dumps_event(_played(e)) for e in self.past), *(dumps_event(e) for e in self.new)]
        )
        return '{"history":[' + history + "]," + json.dumps(payload)[1:]

    def apply_exception(self, exc: BaseException) -> None:
        """The SDK's handle raised: a failed orchestrator (with its actions so far, when attached)."""
        failure = parse_orchestrator_exception(exc)
        self._fail(failure.message)

    def apply_result(self, payload: Any) -> None:
        """Apply the SDK's OrchestratorState (JSON text or dict)."""
        assert self.state is not None
        self.needs_invoke = False
        try:
            output = parse_orchestrator_output(payload)
        except (ValueError, TypeError) as exc:
            self._fail(f"returned an invalid orchestrator state: {exc}")
            return
        if output.error:
            self._fail(output.error)
            return
        try:
            result = self._replay(output)
        except NonDeterminismError as exc:
            self._fail(str(exc))
            return
        except (ValueError, KeyError, TypeError) as exc:
            self._fail(f"returned an action the host cannot run: {exc}")
            return
        if output.has_custom_status:
            self.state = replace(self.state, custom_status=json.dumps(output.custom_status))
        self.new.extend(result.new_events)
        self.out_messages.extend(result.messages)
        if not output.is_done:
            return
        if result.continue_as_new is not None:
            self._continue_as_new(result)
        elif result.open_tasks == 0:
            text = json.dumps(output.output) if output.has_output else None
            self._complete(RuntimeStatus.COMPLETED, text, sequence=result.next_sequence)

    def _replay(self, output: OrchestratorOutput) -> ReplayResult:
        assert self.state is not None
        start = self._started_event()
        trace = (
            own_trace_parent(start.extras.get(TRACE_CONTEXT_KEY)) if start and self.options.tracing else None
        )
        ctx = ReplayContext(
            instance_id=self.instance_id,
            execution_id=self.state.execution_id,
            name=self.state.name,
            store_inputs_in_history=self.options.store_inputs_in_history,
            trace_parent=trace,
        )
        resume, self.resume_replay = self.resume_replay, None
        result = replay_actions(ctx, self.history, output.actions, output.schema_version, resume=resume)
        self._last_replay = result
        return result

    @property
    def history(self) -> JoinedHistory:
        """The past and this episode's events, in order, without copying them."""
        return JoinedHistory(self.past, self.new)

    @property
    def replay_checkpoint(self) -> ReplayCheckpoint | None:
        """Where the last replay ended, for the next episode to resume from (extended sessions)."""
        return self._last_replay.checkpoint if self._last_replay else None

    def _continue_as_new(self, result: ReplayResult) -> None:
        assert self.state is not None and result.continue_as_new is not None
        previous = self._started_event()
        assert previous is not None
        new_input = result.continue_as_new.get("input")
        start = HistoryEvent(
            EventType.EXECUTION_STARTED,
            timestamp=self.now_text,
            name=previous.name,
            version=previous.version,
            input=json.dumps(new_input) if new_input is not None else None,
            instance_id=self.instance_id,
            execution_id=uuid.uuid4().hex,
            parent_instance=previous.parent_instance,
            generation=(previous.generation or 0) + 1,
            tags=previous.tags,
            # One orchestration span covers every generation: the trace context carries over.
            extras={k: v for k, v in previous.extras.items() if k == TRACE_CONTEXT_KEY},
        )
        carried = [replace(e, is_played=False) for e in result.unconsumed_events]
        custom_status = self.state.custom_status
        # Messages for the old generation's work stay valid only for the old execution id: drop them.
        self.out_messages = [m for m in self.out_messages if not m.is_work_item and m.visible_at is None]
        self._begin_execution(start)
        self.state = replace(self.state, custom_status=custom_status)
        self.new.extend(carried)
        self.needs_invoke = True

    def _fail(self, message: str) -> None:
        assert self.state is not None
        self.needs_invoke = False
        text = f"Orchestrator function '{self.state.name}' failed: {message}"
        sequence = self._last_replay.next_sequence if self._last_replay else -1
        details = {
            "ErrorType": "OrchestrationFailureException",
            "ErrorMessage": text,
            "IsNonRetriable": False,
        }
        self._complete(RuntimeStatus.FAILED, text, sequence=sequence, failure_details=details)

    def _complete(
        self,
        status: RuntimeStatus,
        output: str | None,
        *,
        sequence: int,
        failure_details: dict[str, Any] | None = None,
    ) -> None:
        assert self.state is not None
        self.needs_invoke = False
        if status == RuntimeStatus.TERMINATED:
            # Pending work of a terminated instance is abandoned; nothing new is scheduled.
            self.out_messages = []
        self.new.append(
            HistoryEvent(
                EventType.EXECUTION_COMPLETED,
                event_id=sequence,
                timestamp=self.now_text,
                orchestration_status=status.orchestration_status_code,
                result=output,
                failure_details=failure_details,
            )
        )
        self.state = replace(
            self.state,
            runtime_status=status,
            output=output,
            last_updated_time=self.now,
            completed_time=self.now,
        )
        self._notify_parent(status, output)

    def _notify_parent(self, status: RuntimeStatus, output: str | None) -> None:
        start = self._started_event()
        parent = (start.parent_instance if start else None) or {}
        target = parent.get("OrchestrationInstance") or {}
        if not target.get("InstanceId"):
            return
        if status == RuntimeStatus.COMPLETED:
            event = HistoryEvent(
                EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
                timestamp=self.now_text,
                task_scheduled_id=parent.get("TaskScheduleId"),
                result=output,
            )
        else:
            event = HistoryEvent(
                EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                timestamp=self.now_text,
                task_scheduled_id=parent.get("TaskScheduleId"),
                reason=output or status.value,
                details=None,
            )
        self.out_messages.append(
            TaskMessage(target["InstanceId"], event, execution_id=target.get("ExecutionId"))
        )

    # -- result ------------------------------------------------------------------------------------
    def commit(self) -> EpisodeCommit:
        if not self.new:
            caught_up = self._state_the_history_ended_with()
            return EpisodeCommit(caught_up, [], False, [], self.dropped, self.deferred)
        events = [*self.new, HistoryEvent(EventType.ORCHESTRATOR_COMPLETED, timestamp=self.now_text)]
        if self.replaces_history:
            events = [*self.past, *events]
        stored = [_played(e) for e in events]
        return EpisodeCommit(
            instance=self.state,
            history=stored,
            replaces_history=self.replaces_history,
            messages=self.out_messages,
            dropped=self.dropped,
            deferred=self.deferred,
        )

    def _state_the_history_ended_with(self) -> InstanceState | None:
        """The instance row brought up to a history that finished the orchestration, when the row still
        says otherwise; None when they agree.

        Azure Storage writes an episode's history before its instance row (two tables, as DT.AS does):
        a host killed in between leaves the row behind. If that episode ended the orchestration, the
        only message still coming is the one it consumed, redelivered and dropped as a duplicate, so
        this is the last chance to record the outcome."""
        if self.state is None or self.state.runtime_status.is_terminal:
            return None
        for event in reversed(self.past):  # ExecutionCompleted ends the last episode, if any did
            if event.event_type == EventType.ORCHESTRATOR_STARTED:
                return None
            if event.event_type == EventType.EXECUTION_COMPLETED:
                status = STATUS_BY_CODE.get(event.orchestration_status or 0, RuntimeStatus.RUNNING)
                if not status.is_terminal:
                    return None
                at = parse_timestamp(event.timestamp)
                return replace(
                    self.state,
                    runtime_status=status,
                    output=event.result,
                    last_updated_time=at,
                    completed_time=at,
                )
        return None


def _trigger_input(stored: str | None) -> Any:
    """The stored input parsed once, as the .NET host sends it. The SDK only accepts a str or a dict
    there, so other JSON values (a number or list posted over HTTP) are sent as their JSON text,
    which the SDK decodes to the same value (Azure fails those instances instead)."""
    if stored is None:
        return None
    value = json.loads(stored)
    return value if isinstance(value, (str, dict)) or value is None else stored
