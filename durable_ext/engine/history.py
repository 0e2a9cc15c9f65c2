"""The DurableTask history model: typed events and their one JSON codec (DTFx PascalCase shape)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum
from itertools import chain
from typing import Any, overload


class EventType(IntEnum):
    """DurableTask.Core `EventType`; values are fixed because out-of-proc SDKs depend on them."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_INSTANCE_CREATED = 7
    SUB_ORCHESTRATION_INSTANCE_COMPLETED = 8
    SUB_ORCHESTRATION_INSTANCE_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC_EVENT = 17
    HISTORY_STATE = 18
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20
    EXECUTION_REWOUND = 21

    @property
    def dtfx_name(self) -> str:
        """The .NET enum name (`TaskScheduled`), used in Table rows and the status API."""
        return "".join(part.capitalize() for part in self.name.split("_"))


EVENT_TYPE_BY_NAME = {t.dtfx_name: t for t in EventType}

# Events that schedule work; their EventId is the orchestrator's sequence number.
SCHEDULING_EVENTS = frozenset(
    {
        EventType.TASK_SCHEDULED,
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        EventType.TIMER_CREATED,
        EventType.EVENT_SENT,
    }
)


def format_timestamp(moment: datetime) -> str:
    """.NET round-trip UTC text: up to 7 fraction digits, trailing zeros dropped, none when zero."""
    # isoformat is C code (strftime or an f-string cost several times more, and this runs per event).
    # Its fraction is 6 digits, only when non-zero, so stripping trailing zeros gives .NET's form.
    if moment.tzinfo is None:
        text = moment.isoformat()
    else:
        if moment.tzinfo is not timezone.utc:
            moment = moment.astimezone(timezone.utc)
        text = moment.isoformat()[:-6]  # without its "+00:00"
    return (text.rstrip("0") if moment.microsecond else text) + "Z"


def format_status_time(moment: datetime) -> str:
    """Status payload times carry no fraction (`yyyy-MM-ddTHH:mm:ssZ`)."""
    moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """Parse ISO-8601 text with 0-7 fraction digits; naive values and `Z` are taken as UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    main, sep, rest = value.partition(".")
    if sep:
        digits = ""
        tail = ""
        for i, ch in enumerate(rest):
            if not ch.isdigit():
                tail = rest[i:]
                break
            digits += ch
        value = f"{main}.{digits[:6].ljust(6, '0')}{tail}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


@dataclass(frozen=True, init=False)
class HistoryEvent:
    """One history event. Fields left None are absent from the JSON, as in DTFx.

    Its `__init__` is written out: a frozen dataclass's sets each of the 22 fields through
    `object.__setattr__` (~5 us per event), and a step builds and decodes a dozen events."""

    event_type: EventType
    event_id: int = -1
    timestamp: str = ""
    is_played: bool = False
    name: str | None = None
    version: str | None = None
    input: str | None = None
    result: str | None = None
    reason: str | None = None
    details: str | None = None
    task_scheduled_id: int | None = None
    timer_id: int | None = None
    fire_at: str | None = None
    instance_id: str | None = None
    execution_id: str | None = None
    parent_instance: dict[str, Any] | None = None
    orchestration_status: int | None = None
    generation: int | None = None
    scheduled_start_time: str | None = None
    tags: dict[str, str] | None = None
    failure_details: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        event_type: EventType,
        event_id: int = -1,
        timestamp: str = "",
        is_played: bool = False,
        name: str | None = None,
        version: str | None = None,
        input: str | None = None,  # noqa: A002 - the DTFx field's name
        result: str | None = None,
        reason: str | None = None,
        details: str | None = None,
        task_scheduled_id: int | None = None,
        timer_id: int | None = None,
        fire_at: str | None = None,
        instance_id: str | None = None,
        execution_id: str | None = None,
        parent_instance: dict[str, Any] | None = None,
        orchestration_status: int | None = None,
        generation: int | None = None,
        scheduled_start_time: str | None = None,
        tags: dict[str, str] | None = None,
        failure_details: dict[str, Any] | None = None,
        extras: dict[str, Any] | None = None,
    ) -> None:
        self.__dict__.update(
            event_type=event_type,
            event_id=event_id,
            timestamp=timestamp,
            is_played=is_played,
            name=name,
            version=version,
            input=input,
            result=result,
            reason=reason,
            details=details,
            task_scheduled_id=task_scheduled_id,
            timer_id=timer_id,
            fire_at=fire_at,
            instance_id=instance_id,
            execution_id=execution_id,
            parent_instance=parent_instance,
            orchestration_status=orchestration_status,
            generation=generation,
            scheduled_start_time=scheduled_start_time,
            tags=tags,
            failure_details=failure_details,
            extras={} if extras is None else extras,
        )

    def with_played(self, played: bool) -> HistoryEvent:
        if self.is_played == played:
            return self
        # A field-for-field copy: `dataclasses.replace` re-runs __init__ over every field, several
        # times slower, and every episode marks its events.
        copy = object.__new__(HistoryEvent)
        copy.__dict__.update(self.__dict__)
        copy.__dict__.pop("_json_text", None)  # the cached JSON (dumps_event) has the old flag
        object.__setattr__(copy, "is_played", played)
        return copy


# (field, JSON key) pairs written for every event type that carries them.
_SIMPLE_FIELDS = (
    ("name", "Name"),
    ("version", "Version"),
    ("input", "Input"),
    ("result", "Result"),
    ("reason", "Reason"),
    ("details", "Details"),
    ("task_scheduled_id", "TaskScheduledId"),
    ("timer_id", "TimerId"),
    ("fire_at", "FireAt"),
    ("parent_instance", "ParentInstance"),
    ("orchestration_status", "OrchestrationStatus"),
    ("generation", "Generation"),
    ("scheduled_start_time", "ScheduledStartTime"),
    ("tags", "Tags"),
    ("failure_details", "FailureDetails"),
)


def event_to_json(event: HistoryEvent) -> dict[str, Any]:
    """The DTFx/Newtonsoft JSON object of an event (the shape the SDK's history and queues use)."""
    out: dict[str, Any] = {
        "EventType": int(event.event_type),
        "EventId": event.event_id,
        "IsPlayed": event.is_played,
        "Timestamp": event.timestamp,
    }
    fields = event.__dict__  # read directly: getattr per field was a third of this function's time
    for attr, key in _SIMPLE_FIELDS:
        value = fields[attr]
        if value is not None:
            out[key] = value
    if event.event_type == EventType.EXECUTION_STARTED:
        out["OrchestrationInstance"] = {"InstanceId": event.instance_id, "ExecutionId": event.execution_id}
        out.setdefault("Version", "")  # the SDK reads ExecutionStarted.Version with no default
        out.setdefault("ParentInstance", None)
    elif event.instance_id is not None:
        out["InstanceId"] = event.instance_id
    out.update(event.extras)
    return out


_ATTR_BY_KEY = {key: attr for attr, key in _SIMPLE_FIELDS}
_READ_APART = frozenset(
    {"EventType", "EventId", "Timestamp", "IsPlayed", "InstanceId", "OrchestrationInstance"}
)


def event_from_json(data: dict[str, Any]) -> HistoryEvent:
    """Inverse of `event_to_json`; accepts the EventType as an int or a DTFx name."""
    raw_type = data["EventType"]
    event_type = EVENT_TYPE_BY_NAME[raw_type] if isinstance(raw_type, str) else EventType(raw_type)
    # One pass over the object (this runs for every event a store reads): known keys become fields,
    # unknown ones are kept as extras, and nulls are dropped as absent.
    kwargs: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for key, value in data.items():
        attr = _ATTR_BY_KEY.get(key)
        if attr is not None:
            if value is not None:
                kwargs[attr] = value
        elif key not in _READ_APART:
            extras[key] = value
    instance = data.get("OrchestrationInstance")
    if isinstance(instance, dict):
        kwargs["instance_id"] = instance.get("InstanceId")
        kwargs["execution_id"] = instance.get("ExecutionId")
    elif data.get("InstanceId") is not None:
        kwargs["instance_id"] = data["InstanceId"]
    return HistoryEvent(
        event_type,
        int(data.get("EventId", -1)),
        str(data.get("Timestamp", "")),
        bool(data.get("IsPlayed", False)),
        extras=extras,
        **kwargs,
    )


def dumps_event(event: HistoryEvent) -> str:
    """Compact JSON of an event, computed once per event object: replays resend the same events every
    episode, and the store writes them, so the text is kept on the (immutable) event."""
    cached: str | None = event.__dict__.get("_json_text")
    if cached is None:
        cached = json.dumps(event_to_json(event), separators=(",", ":"))
        object.__setattr__(event, "_json_text", cached)
    return cached


def loads_event(text: str) -> HistoryEvent:
    event = event_from_json(json.loads(text))
    object.__setattr__(event, "_json_text", text)
    return event


class JoinedHistory(Sequence[HistoryEvent]):
    """An episode's whole history, `past` then `new`, read in place. An episode reads it a few times
    (the SDK session, the host-side replay), and a copy each time made every episode cost O(history):
    an orchestration waiting for 3,000 events spent about a fifth more per event than for 500."""

    __slots__ = ("past", "new")

    def __init__(self, past: list[HistoryEvent], new: list[HistoryEvent]) -> None:
        self.past = past
        self.new = new

    def __len__(self) -> int:
        return len(self.past) + len(self.new)

    def __iter__(self) -> Iterator[HistoryEvent]:
        return chain(self.past, self.new)

    @overload
    def __getitem__(self, index: int) -> HistoryEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[HistoryEvent]: ...

    def __getitem__(self, index: int | slice) -> HistoryEvent | list[HistoryEvent]:
        split = len(self.past)
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return list(self)[index]
            return self.past[start:stop] + self.new[max(start - split, 0) : max(stop - split, 0)]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("history index out of range")
        return self.past[index] if index < split else self.new[index - split]
