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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from azure.durable_functions.models.actions.Action import Action
from azure.durable_functions.models.actions.CompoundAction import CompoundAction
from azure.durable_functions.models.actions.CreateTimerAction import CreateTimerAction
from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent as SdkHistoryEvent
from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor
from azure.durable_functions.models.utils.df_serialization import df_dumps
from azure.durable_functions.orchestrator import Orchestrator

from ..app.spec import FunctionSpec
from ..engine.actions import OrchestratorOutput
from ..engine.history import EventType, HistoryEvent, event_to_json
from ..engine.orchestration import OrchestrationEpisode
from ..engine.replay import ReplayCheckpoint

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
    actions: _DecodedActions = field(default_factory=lambda: _DecodedActions())


class ExtendedSessions:
    """Sessions by instance id, least recently used first out; idle ones expire."""

    def __init__(self, *, idle_timeout: float, capacity: int = 10_000) -> None:
        self.idle_timeout = idle_timeout
        self.capacity = capacity
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._pending: dict[str, OrchestrationEpisode] = {}  # instance id -> episode being invoked
        # instance id -> the state an episode's invocation left, already parsed (its text is not built)
        self._outputs: dict[str, OrchestratorOutput] = {}
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

    def take_output(self, instance_id: str) -> OrchestratorOutput | None:
        """The parsed state of the invocation that just ran through the session, if it made one (then
        the text it returned is a stub and this is what to apply)."""
        return self._outputs.pop(instance_id, None)

    def replayed(self, episode: OrchestrationEpisode) -> None:
        """Keep the host-side replay of the episode just applied with the instance's session."""
        session = self._sessions.get(episode.instance_id)
        if session is not None:
            session.replay = episode.replay_checkpoint

    def evict(self, instance_id: str) -> None:
        self._sessions.pop(instance_id, None)
        self._pending.pop(instance_id, None)
        self._outputs.pop(instance_id, None)

    def expire_idle(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        while self._sessions:
            instance_id, session = next(iter(self._sessions.items()))
            if now - session.used_at < self.idle_timeout and len(self._sessions) <= self.capacity:
                break
            del self._sessions[instance_id]

    # -- on the orchestrator thread --------------------------------------------------------------------
    def _run(self, handle: Callable[..., str], key: str) -> str:
        """Through the invoker, whose result is text: a parsed state waits for `take_output`."""
        state = self.run(handle, self._pending.pop(key))
        if isinstance(state, OrchestratorOutput):
            self._outputs[key] = state
            return _PARSED_STUB
        return state

    def run(self, handle: Callable[..., str], episode: OrchestrationEpisode) -> OrchestratorOutput | str:
        """The SDK's orchestrator state for this episode, as `handle(episode.trigger_payload())` gives it
        (text), or already parsed when the session resumed (what parsing that text would give)."""
        assert episode.state is not None
        events = episode.history
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
    def _continues(session: _Session, episode: OrchestrationEpisode, events: Sequence[HistoryEvent]) -> bool:
        assert episode.state is not None
        return (
            not episode.replaces_history
            and session.execution_id == episode.state.execution_id
            and len(events) > session.processed
            and _event_key(events[session.processed - 1]) == session.last_key
        )

    @staticmethod
    def _start(
        handle: Callable[..., str], episode: OrchestrationEpisode, events: Sequence[HistoryEvent]
    ) -> _Session:
        """What `Orchestrator.create`'s handle does, keeping the executor."""
        assert episode.state is not None
        context = DurableOrchestrationContext.from_json(episode.trigger_payload())
        context._input_expected_type = getattr(handle, "_df_input_type", None)
        orchestrator = Orchestrator(handle.orchestrator_function)  # type: ignore[attr-defined]
        return _Session(episode.state.execution_id, orchestrator, context, 0, _event_key(events[0]), 0.0)

    @staticmethod
    def _resume(session: _Session, events: Sequence[HistoryEvent]) -> OrchestratorOutput | str:
        """The executor's replay loop over the unseen events only."""
        executor = session.orchestrator.task_orchestration_executor
        new_from = next(
            i
            for i in range(len(events) - 1, -1, -1)
            if events[i].event_type == EventType.ORCHESTRATOR_STARTED
        )
        for index in range(session.processed, len(events)):
            # The JSON object the payload would carry, without encoding and decoding it.
            event = SdkHistoryEvent(**event_to_json(events[index]))
            session.context.histories.append(event)
            executor._is_processing_new_events = index >= new_from
            executor.process_event(event)
            if executor.has_execution_completed:
                break
        return session.actions.state(executor, session.context)


# What a resumed invocation returns when it left its state parsed (`take_output`): not applied as such.
_PARSED_STUB = '{"isDone":false,"actions":[]}'


class _DecodedActions:
    """The SDK's OrchestratorState, parsed, without re-encoding and re-parsing every action each episode.

    The SDK serialises all actions since the start on every episode, and the host would parse them all
    again: O(n) per episode, O(n^2) for an orchestration that waits for n events. Within a session the
    SDK only appends actions, and an action never changes once added, except that a timer can be
    cancelled later. So the decoded JSON of each is kept, in the SDK's groups, and only appended
    actions and timers whose flag changed are encoded; the same objects come back every episode, which
    the host-side replay recognises at once.
    """

    def __init__(self) -> None:
        self._groups: list[list[dict[str, Any]]] = []  # decoded actions, as the SDK groups them
        self._sources: list[list[Action]] = []  # the SDK's action objects they were made from
        self._timers: list[tuple[int, int, CreateTimerAction, bool]] = []  # (group, index, timer, flag seen)

    def state(
        self, executor: TaskOrchestrationExecutor, context: DurableOrchestrationContext
    ) -> OrchestratorOutput | str:
        """What parsing the SDK's state text would give; the SDK's own text for a failure."""
        if executor.exception is not None or not _serialisable(executor.output):
            return executor.get_orchestrator_state_str()  # the SDK builds (or raises) the failure
        output, custom = executor.output, context.custom_status
        return OrchestratorOutput(
            is_done=bool(executor.orchestration_invocation_succeeded),
            actions=self._actions(context._actions),
            schema_version=context._replay_schema.value,
            output=json.loads(df_dumps(output)) if output is not None else None,
            has_output=output is not None,
            custom_status=json.loads(df_dumps(custom)) if custom else None,
            has_custom_status=bool(custom),
        )

    def _actions(self, groups: list[list[Action]]) -> list[list[dict[str, Any]]]:
        for g, group in enumerate(groups):
            if g == len(self._groups):
                self._groups.append([])
                self._sources.append([])
            known = self._sources[g]
            if len(group) < len(known) or (known and group[len(known) - 1] is not known[-1]):
                self._forget(g)  # not only appended to (never seen from the SDK): encode it again
                known = self._sources[g]
            for index in range(len(known), len(group)):
                self._add(g, index, group[index])
        for position, (g, index, timer, seen) in enumerate(self._timers):
            if timer.is_cancelled != seen:
                self._groups[g][index] = _decoded(self._sources[g][index])
                self._timers[position] = (g, index, timer, timer.is_cancelled)
        # Fresh outer lists: the replay keeps the previous episode's to compare with.
        return [list(decoded) for decoded in self._groups[: len(groups)]]

    def _add(self, g: int, index: int, action: Action) -> None:
        self._sources[g].append(action)
        self._groups[g].append(_decoded(action))
        self._timers.extend((g, index, t, t.is_cancelled) for t in _timers_in(action))

    def _forget(self, g: int) -> None:
        self._groups[g], self._sources[g] = [], []
        self._timers = [t for t in self._timers if t[0] != g]


def _decoded(action: Action) -> dict[str, Any]:
    """The action as the SDK's state text decodes."""
    value: dict[str, Any] = json.loads(json.dumps(action.to_json()))
    return value


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
