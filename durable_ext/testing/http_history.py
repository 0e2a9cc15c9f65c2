"""Rebuilds a replayable DTFx history from the HTTP API's `showHistory=true&showHistoryOutput=true`
status payload, best-effort.

That payload drops what replay needs: OrchestratorStarted/Completed, every EventId, TaskScheduledId
and TimerId, and it folds each TaskScheduled / SubOrchestrationInstanceCreated into its completion
(as FunctionName + ScheduledTime). We rebuild it like this:
- schedules are numbered in order of their scheduling time; schedules of one episode (same time) keep
  payload order, which for tasks that completed is their completion order, not necessarily the order
  the code scheduled them in (fan-outs may be misnumbered);
- TimerFired is matched to the TimerCreated with the same FireAt;
- episodes start at each distinct scheduling time and at the completion; incoming events join the
  first episode at or after their time (an episode that scheduled nothing merges into the next one).
Results come back parsed and are serialised again; inputs are the stored text.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..engine.history import (
    EVENT_TYPE_BY_NAME,
    EventType,
    HistoryEvent,
    format_timestamp,
    parse_timestamp,
)
from ..engine.status import RuntimeStatus

_FOLDED = {
    EventType.TASK_COMPLETED: EventType.TASK_SCHEDULED,
    EventType.TASK_FAILED: EventType.TASK_SCHEDULED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
}
_SCHEDULES = {
    EventType.TASK_SCHEDULED,
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    EventType.TIMER_CREATED,
    EventType.EVENT_SENT,
}


def looks_like_status_history(items: list[Any]) -> bool:
    """Status-API events name their type and carry no EventId."""
    return bool(items) and all(
        isinstance(i, dict) and isinstance(i.get("EventType"), str) and "EventId" not in i for i in items
    )


@dataclass
class _Schedule:
    time: datetime
    order: int
    event: HistoryEvent
    completions: list[int] = field(default_factory=list)  # indexes into the arrivals


def rebuild_history(items: list[dict[str, Any]], instance_id: str) -> list[HistoryEvent]:
    schedules: list[_Schedule] = []
    arrivals: list[tuple[datetime, HistoryEvent]] = []
    start: HistoryEvent | None = None
    completed: HistoryEvent | None = None
    for order, item in enumerate(items):
        event = _event(item, instance_id)
        etype = event.event_type
        if etype == EventType.EXECUTION_STARTED:
            start = event
        elif etype == EventType.EXECUTION_COMPLETED:
            completed = event
        elif etype in _SCHEDULES:
            schedules.append(_Schedule(_time(event.timestamp), order, event))
        elif etype in _FOLDED:
            scheduled_at = str(item.get("ScheduledTime") or event.timestamp)
            origin = HistoryEvent(
                _FOLDED[etype], timestamp=scheduled_at, name=item.get("FunctionName"), version=""
            )
            schedules.append(_Schedule(_time(scheduled_at), order, origin, [len(arrivals)]))
            arrivals.append((_time(event.timestamp), event))
        elif etype == EventType.TIMER_FIRED:
            # Its Timestamp is when the timer was created; it arrives when it fires.
            arrivals.append((max(_time(event.timestamp), _time(event.fire_at or event.timestamp)), event))
        elif etype not in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED):
            arrivals.append((_time(event.timestamp), event))
    if start is None:
        raise ValueError("the status payload's history has no ExecutionStarted event")

    schedules.sort(key=lambda s: (s.time, s.order))
    arrival_events = [e for _, e in arrivals]
    open_timers: list[tuple[str, int]] = []
    numbered: list[_Schedule] = []
    for seq, schedule in enumerate(schedules):
        schedule.event = replace(schedule.event, event_id=seq)
        numbered.append(schedule)
        for index in schedule.completions:
            arrival_events[index] = replace(arrival_events[index], task_scheduled_id=seq)
        if schedule.event.event_type == EventType.TIMER_CREATED:
            open_timers.append((schedule.event.fire_at or "", seq))
    for index, event in enumerate(arrival_events):
        if event.event_type == EventType.TIMER_FIRED:
            match = next((t for t in open_timers if _same_time(t[0], event.fire_at)), None)
            if match is not None:
                open_timers.remove(match)
                arrival_events[index] = replace(event, timer_id=match[1])

    # Episode boundaries: the first episode, every scheduling time, and the completion.
    times = sorted({s.time for s in numbered} | ({_time(completed.timestamp)} if completed else set()))
    first = _time(start.timestamp)
    episodes: dict[datetime, list[HistoryEvent]] = {t: [] for t in times}
    pending_start = True
    for (at, _), event in sorted(zip(arrivals, arrival_events, strict=True), key=lambda pair: pair[0][0]):
        episode_time = _episode_at(times, at)
        if episode_time is None:
            episode_time = at
            times.append(at)
            episodes[at] = []
        episodes[episode_time].append(event)
    times.sort()
    history: list[HistoryEvent] = []
    first_episode = _episode_at(times, first) or first
    if first_episode not in episodes:
        episodes[first_episode] = []
        times = sorted([*times, first_episode])
    for at in times:
        stamp = format_timestamp(at)
        history.append(HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp=stamp))
        if pending_start and at >= first_episode:
            history.append(start)
            pending_start = False
        history.extend(episodes[at])
        history.extend(s.event for s in numbered if s.time == at)
        if completed is not None and at == _time(completed.timestamp):
            history.append(replace(completed, event_id=len(numbered)))
        history.append(HistoryEvent(EventType.ORCHESTRATOR_COMPLETED, timestamp=stamp))
    return history


def _episode_at(times: list[datetime], moment: datetime) -> datetime | None:
    index = bisect.bisect_left(times, moment)
    return times[index] if index < len(times) else None


def _time(text: str) -> datetime:
    return parse_timestamp(text)


def _same_time(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and _time(a) == _time(b)


def _json_text(value: Any) -> str | None:
    """Results come back parsed: serialise them again."""
    return None if value is None else json.dumps(value)


def _input_text(value: Any) -> str | None:
    """Inputs come back as the stored JSON text (a parsed value only from other hosts)."""
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _event(item: dict[str, Any], instance_id: str) -> HistoryEvent:
    name = str(item["EventType"])
    etype = EVENT_TYPE_BY_NAME.get(name)
    if etype is None:
        raise ValueError(f"unknown EventType {name!r} in the status payload")
    timestamp = str(item.get("Timestamp") or "")
    common: dict[str, Any] = {"timestamp": timestamp, "is_played": True}
    if etype == EventType.EXECUTION_STARTED:
        return HistoryEvent(
            etype,
            name=item.get("FunctionName") or item.get("Name"),
            version="",
            input=_input_text(item.get("Input")),
            instance_id=instance_id,
            execution_id="",
            **common,
        )
    if etype == EventType.EXECUTION_COMPLETED:
        status = item.get("OrchestrationStatus")
        code = RuntimeStatus(status).orchestration_status_code if isinstance(status, str) else status
        return HistoryEvent(etype, orchestration_status=code, result=_json_text(item.get("Result")), **common)
    if etype in (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED):
        return HistoryEvent(etype, result=_json_text(item.get("Result")), **common)
    if etype in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
        return HistoryEvent(etype, reason=item.get("Reason"), details=item.get("Details"), **common)
    if etype in (EventType.TIMER_CREATED, EventType.TIMER_FIRED):
        return HistoryEvent(etype, fire_at=item.get("FireAt"), **common)
    if etype in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED):
        return HistoryEvent(
            etype,
            name=item.get("Name") or item.get("FunctionName"),
            version="",
            instance_id=item.get("InstanceId"),
            **common,
        )
    return HistoryEvent(
        etype,
        name=item.get("Name"),
        input=_input_text(item.get("Input")),
        instance_id=item.get("InstanceId"),
        reason=item.get("Reason"),
        **common,
    )
