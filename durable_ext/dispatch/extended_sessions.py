"""Extended sessions (host.json `extendedSessionsEnabled`): keep each running orchestration's SDK
executor in memory between episodes and feed it only the events it has not seen.

Without them every episode replays the whole history through the SDK, so an orchestration that waits
for n events or fans out to n tasks costs O(n^2). DTFx offers the same knob to in-process .NET code;
here the SDK runs in this process too, so Python gets it. A session is used only while the history
still starts with exactly what the session processed; anything else (another host ran episodes in
between and the history grew: fine; a rewind, a failed commit, a new execution: not) falls back to a
full replay, as without sessions. Code changes need a restart, which empties the sessions, so a changed
orchestrator is still caught by replay then.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azure.durable_functions.models.actions.Action import Action
from azure.durable_functions.models.actions.CompoundAction import CompoundAction
from azure.durable_functions.models.actions.CreateTimerAction import CreateTimerAction
from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent as SdkHistoryEvent
from azure.durable_functions.models.ReplaySchema import ReplaySchema
from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor
from azure.durable_functions.models.utils.df_serialization import df_dumps
from azure.durable_functions.orchestrator import Orchestrator

from ..app.spec import FunctionSpec
from ..engine.history import EventType, HistoryEvent, dumps_event
from ..engine.orchestration import OrchestrationEpisode
from ..engine.replay import ReplayCheckpoint

T = TypeVar("T")

# What a session relies on in the SDK (1.x); without any of it, episodes simply replay in full.
_SDK_EXECUTOR_API = ("process_event", "get_orchestrator_state_str", "has_execution_completed")


def _event_key(event: HistoryEvent) -> tuple[EventType, int, str]:
    return (event.event_type, event.event_id, event.timestamp)


@dataclass
class _Session:
    execution_id: str
    orchestrator: Orchestrator
    context: DurableOrchestrationContext
    processed: int  # how many history events the SDK has seen
    last_key: tuple[EventType, int, str]
    used_at: float
    replay: ReplayCheckpoint | None = None  # the host-side replay of the same episodes
    actions: _ActionTexts = field(default_factory=lambda: _ActionTexts())


class ExtendedSessions:
    """Sessions by instance id, least recently used first out; idle ones expire."""

    def __init__(self, *, idle_timeout: float, capacity: int = 10_000) -> None:
        self.idle_timeout = idle_timeout
        self.capacity = capacity
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._pending: dict[str, OrchestrationEpisode] = {}  # instance id -> episode being invoked
        self._specs: dict[int, tuple[FunctionSpec, FunctionSpec]] = {}
        self.full_replays = 0
        self.resumed = 0

    def __len__(self) -> int:
        return len(self._sessions)

    @staticmethod
    def supports(spec: FunctionSpec) -> bool:
        """An orchestrator made by the SDK's `Orchestrator.create` (v1 `main` or v2 decorator)."""
        return callable(getattr(spec.func, "orchestrator_function", None)) and all(
            hasattr(TaskOrchestrationExecutor, name) for name in _SDK_EXECUTOR_API
        )

    def spec_for(self, spec: FunctionSpec) -> FunctionSpec:
        """The same function, run through a session. The invoker passes it a key, not the payload."""
        cached = self._specs.get(id(spec))
        if cached is not None and cached[0] is spec:
            return cached[1]
        handle: Callable[..., str] = spec.func

        @functools.wraps(handle)  # same signature, so the binding plan is the same
        def through_session(*args: Any, **kwargs: Any) -> str:
            context = args[0] if args else next(iter(kwargs.values()))
            return self._run(handle, str(getattr(context, "body", context)))

        wrapped = dataclasses.replace(spec, func=through_session)
        self._specs[id(spec)] = (spec, wrapped)  # keeps `spec` alive, so its id is not reused
        return wrapped

    def expect(self, episode: OrchestrationEpisode) -> str:
        """Register the episode about to be invoked; returns the key the trigger carries instead."""
        self.expire_idle()
        self._pending[episode.instance_id] = episode
        return episode.instance_id

    def replayed(self, episode: OrchestrationEpisode) -> None:
        """Keep the host-side replay of the episode just applied with the instance's session."""
        session = self._sessions.get(episode.instance_id)
        if session is not None:
            session.replay = episode.replay_checkpoint

    def evict(self, instance_id: str) -> None:
        self._sessions.pop(instance_id, None)
        self._pending.pop(instance_id, None)

    def expire_idle(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        while self._sessions:
            instance_id, session = next(iter(self._sessions.items()))
            if now - session.used_at < self.idle_timeout and len(self._sessions) <= self.capacity:
                break
            del self._sessions[instance_id]

    # -- on the orchestrator thread --------------------------------------------------------------------
    def _run(self, handle: Callable[..., str], key: str) -> str:
        return self.run(handle, self._pending.pop(key))

    def run(self, handle: Callable[..., str], episode: OrchestrationEpisode) -> str:
        """The SDK's orchestrator state for this episode, as `handle(episode.trigger_payload())` gives it."""
        assert episode.state is not None
        events = [*episode.past, *episode.new]
        session = self._sessions.pop(episode.instance_id, None)
        if session is not None and not self._continues(session, episode, events):
            session = None
        # A session taken out stays out if the SDK raises (a failed orchestrator): nothing to resume.
        if session is None:
            self.full_replays += 1
            session = self._start(handle, episode, events)
            state = session.orchestrator.handle(session.context)
        else:
            self.resumed += 1
            state = self._resume(session, events)
            episode.resume_replay = session.replay
        session.processed = len(events)
        session.last_key = _event_key(events[-1])
        session.used_at = time.monotonic()
        if not session.orchestrator.task_orchestration_executor.has_execution_completed:
            self._sessions[episode.instance_id] = session
            self.expire_idle(session.used_at)
        return state

    @staticmethod
    def _continues(session: _Session, episode: OrchestrationEpisode, events: list[HistoryEvent]) -> bool:
        assert episode.state is not None
        return (
            not episode.replaces_history
            and session.execution_id == episode.state.execution_id
            and len(events) > session.processed
            and _event_key(events[session.processed - 1]) == session.last_key
        )

    @staticmethod
    def _start(
        handle: Callable[..., str], episode: OrchestrationEpisode, events: list[HistoryEvent]
    ) -> _Session:
        """What `Orchestrator.create`'s handle does, keeping the executor."""
        assert episode.state is not None
        context = DurableOrchestrationContext.from_json(episode.trigger_payload())
        context._input_expected_type = getattr(handle, "_df_input_type", None)
        orchestrator = Orchestrator(handle.orchestrator_function)  # type: ignore[attr-defined]
        return _Session(episode.state.execution_id, orchestrator, context, 0, _event_key(events[0]), 0.0)

    @staticmethod
    def _resume(session: _Session, events: list[HistoryEvent]) -> str:
        """The executor's replay loop over the unseen events only."""
        executor = session.orchestrator.task_orchestration_executor
        new_from = next(
            i
            for i in range(len(events) - 1, -1, -1)
            if events[i].event_type == EventType.ORCHESTRATOR_STARTED
        )
        for index in range(session.processed, len(events)):
            event = SdkHistoryEvent(**json.loads(dumps_event(events[index])))
            session.context.histories.append(event)
            executor._is_processing_new_events = index >= new_from
            executor.process_event(event)
            if executor.has_execution_completed:
                break
        return session.actions.state_text(executor, session.context)


class _ActionTexts:
    """The SDK's OrchestratorState as text, without re-encoding every action each episode.

    The SDK serialises all actions since the start on every episode. Within a session an action object
    never changes once added, except that a timer can be cancelled later; so each one's JSON text is
    kept, and redone only for an action holding a timer whose flag changed.
    """

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Action, str]] = {}  # id(action) -> (action, its JSON)
        self._timers: list[tuple[Action, CreateTimerAction, bool]] = []  # (top action, timer, flag seen)

    def state_text(self, executor: TaskOrchestrationExecutor, context: DurableOrchestrationContext) -> str:
        if executor.exception is not None or not _serialisable(executor.output):
            return executor.get_orchestrator_state_str()  # the SDK builds (or raises) the failure
        self._refresh_cancelled()
        groups = ",".join("[" + ",".join(self._text(a) for a in group) + "]" for group in context._actions)
        parts = ['"isDone":' + ("true" if executor.orchestration_invocation_succeeded else "false")]
        if context._replay_schema != ReplaySchema.V1:
            parts.append(f'"schemaVersion":{context._replay_schema.value}')
        parts.append('"actions":[' + groups + "]")
        if executor.output is not None:
            parts.append('"output":' + df_dumps(executor.output))
        if context.custom_status:
            parts.append('"customStatus":' + df_dumps(context.custom_status))
        return "{" + ",".join(parts) + "}"

    def _text(self, action: Action) -> str:
        cached = self._texts.get(id(action))
        if cached is not None and cached[0] is action:
            return cached[1]
        text = json.dumps(action.to_json())
        self._texts[id(action)] = (action, text)
        self._timers.extend((action, t, t.is_cancelled) for t in _timers_in(action))
        return text

    def _refresh_cancelled(self) -> None:
        for index, (top, timer, seen) in enumerate(self._timers):
            if timer.is_cancelled != seen:
                self._texts.pop(id(top), None)
                self._timers[index] = (top, timer, timer.is_cancelled)


def _timers_in(action: Action) -> list[CreateTimerAction]:
    if isinstance(action, CreateTimerAction):
        return [action]
    if isinstance(action, CompoundAction):
        return [t for child in action.compound_tasks for t in _timers_in(child)]
    return []


def _serialisable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


class InlineExecutor(Executor):
    """Runs each call at once on the submitting thread (the event loop's, for orchestrator code)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting caller, as a pool thread would
            future.set_exception(exc)
        return future
