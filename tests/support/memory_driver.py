"""Drives the pure engine with the official SDK, in memory and on a virtual clock (no store, no I/O).

Orchestrators are SDK handles (`df.Orchestrator.create(fn)`), activities plain callables. Messages
are delivered in order; when nothing is visible the clock jumps to the next timer.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import azure.durable_functions as df

from durable_ext.dispatch.activities import activity_input_text
from durable_ext.dispatch.extended_sessions import ExtendedSessions
from durable_ext.engine.history import EventType, HistoryEvent, format_timestamp
from durable_ext.engine.messages import TaskMessage
from durable_ext.engine.orchestration import EpisodeOptions, OrchestrationEpisode
from durable_ext.engine.status import InstanceState, RuntimeStatus


@dataclass
class MemoryHub:
    orchestrators: dict[str, Callable[..., Any]]
    activities: dict[str, Callable[[Any], Any]]
    now: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=timezone.utc))
    options: EpisodeOptions = field(default_factory=EpisodeOptions)
    instances: dict[str, InstanceState] = field(default_factory=dict)
    histories: dict[str, list[HistoryEvent]] = field(default_factory=dict)
    queue: list[TaskMessage] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)  # every trigger payload sent to the SDK
    sessions: ExtendedSessions | None = None  # extended sessions, when a test wants them

    def start(self, name: str, value: Any = None, instance_id: str = "i1") -> str:
        text = json.dumps(json.dumps(value)) if value is not None else None
        start = HistoryEvent(
            EventType.EXECUTION_STARTED,
            timestamp=format_timestamp(self.now),
            name=name,
            version="",
            input=text,
            instance_id=instance_id,
            execution_id=f"{instance_id}-exec",
        )
        self.instances[instance_id] = InstanceState(
            instance_id, name, f"{instance_id}-exec", RuntimeStatus.PENDING, self.now, self.now, input=text
        )
        self.queue.append(TaskMessage(instance_id, start, execution_id=start.execution_id))
        return instance_id

    def raise_event(self, instance_id: str, name: str, value: Any) -> None:
        event = HistoryEvent(
            EventType.EVENT_RAISED, timestamp=format_timestamp(self.now), name=name, input=json.dumps(value)
        )
        self.queue.append(TaskMessage(instance_id, event))

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def run(
        self, *, max_steps: int = 10_000, until: datetime | None = None, steps: int | None = None
    ) -> None:
        """Deliver messages until none is left (jumping the clock to timers), or the clock passes `until`,
        or `steps` deliveries were made."""
        for step in range(max_steps):
            if steps is not None and step >= steps:
                return
            visible = [m for m in self.queue if m.visible_at is None or m.visible_at <= self.now]
            if not visible:
                pending = [m.visible_at for m in self.queue if m.visible_at is not None]
                if not pending or (until is not None and min(pending) > until):
                    return
                self.now = max(self.now, min(pending))
                continue
            message = visible[0]
            if message.is_work_item:
                self.queue.remove(message)
                self.queue.append(self._run_activity(message))
            else:
                batch = [m for m in visible if not m.is_work_item and m.instance_id == message.instance_id]
                for m in batch:
                    self.queue.remove(m)
                self._episode(message.instance_id, batch)
        raise AssertionError("the hub did not go idle")

    def _run_activity(self, message: TaskMessage) -> TaskMessage:
        event = message.event
        value = json.loads(activity_input_text(event.input))
        stamp = format_timestamp(self.now)
        try:
            result = self.activities[event.name or ""](value)
            outcome = HistoryEvent(
                EventType.TASK_COMPLETED,
                timestamp=stamp,
                task_scheduled_id=event.event_id,
                result=json.dumps(result),
            )
        except Exception as exc:
            outcome = HistoryEvent(
                EventType.TASK_FAILED,
                timestamp=stamp,
                task_scheduled_id=event.event_id,
                reason=f"Activity function '{event.name}' failed: {type(exc).__name__}: {exc}",
                details="".join(traceback.format_exception(exc)),
            )
        return TaskMessage(message.instance_id, outcome, execution_id=message.execution_id)

    def _episode(self, instance_id: str, messages: list[TaskMessage]) -> None:
        episode = OrchestrationEpisode(
            instance_id,
            self.instances.get(instance_id),
            self.histories.get(instance_id, []),
            messages,
            now=self.now,
            options=self.options,
        )
        while episode.needs_invoke:
            assert episode.state is not None
            payload = episode.trigger_payload()
            self.payloads.append(json.loads(payload))
            handle = self.orchestrators[episode.state.name]
            try:
                state = self.sessions.run(handle, episode) if self.sessions is not None else handle(payload)
                episode.apply_result(state)
                if self.sessions is not None:
                    self.sessions.replayed(episode)
            except Exception as exc:
                episode.apply_exception(exc)
        commit = episode.commit()
        if commit.instance is not None:
            self.instances[instance_id] = commit.instance
            past = [] if commit.replaces_history else self.histories.get(instance_id, [])
            self.histories[instance_id] = [*past, *commit.history]
        self.queue.extend(replace(m) for m in commit.deferred)
        self.queue.extend(commit.messages)

    # -- reading results -----------------------------------------------------------------------------
    def status(self, instance_id: str) -> RuntimeStatus:
        return self.instances[instance_id].runtime_status

    def output(self, instance_id: str) -> Any:
        text = self.instances[instance_id].output
        return json.loads(text) if text is not None else None

    def types(self, instance_id: str) -> list[str]:
        return [e.event_type.dtfx_name for e in self.histories[instance_id]]


def orchestrator(fn: Callable[..., Any]) -> Callable[..., Any]:
    return df.Orchestrator.create(fn)
