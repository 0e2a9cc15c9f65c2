"""Durable entities as pure code: an entity is the instance `@name@key`; one episode runs a batch of
its queued operations through the SDK's entity handle and persists the new state with the messages
it consumed (as DTFx does, each batch ends the execution and the next starts from the saved state).

Usage (the dispatcher): `episode = EntityEpisode(...)`; if `episode.batch` is non-empty, run the
user's entity with `episode.batch_request()`, then `episode.apply_result(...)` (or `apply_exception`),
and commit `episode.commit()`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .history import EventType, HistoryEvent, format_timestamp
from .messages import TaskMessage
from .orchestration import DroppedMessage, EpisodeCommit
from .status import InstanceState, RuntimeStatus

ENTITY_PREFIX = "@"


@dataclass(frozen=True)
class EntityId:
    name: str  # lower-cased, as the .NET extension stores it
    key: str

    @property
    def instance_id(self) -> str:
        return f"@{self.name}@{self.key}"

    @classmethod
    def of(cls, name: str, key: str) -> EntityId:
        if not name:
            raise ValueError("An entity name must not be empty.")
        bad = [c for c in key if c in "/\\#?" or ord(c) < 0x20]
        if bad:
            raise ValueError(f"Entity key '{key}' contains the character {bad[0]!r}, which is not allowed.")
        return cls(name.lower(), key)

    @classmethod
    def parse(cls, instance_id: str) -> EntityId:
        if not is_entity_id(instance_id):
            raise ValueError(f"'{instance_id}' is not an entity instance id (@name@key).")
        name, _, key = instance_id[1:].partition("@")
        return cls(name, key)


def is_entity_id(instance_id: str) -> bool:
    return instance_id.startswith(ENTITY_PREFIX) and "@" in instance_id[1:]


@dataclass(frozen=True)
class EntityState:
    """The scheduler state stored as the entity execution's input (WebJobs format, defaults omitted)."""

    exists: bool = False
    state: str | None = None  # the entity's state as JSON text

    def to_json(self) -> str | None:
        if not self.exists and self.state is None:
            return None
        data: dict[str, Any] = {"exists": self.exists}
        if self.state is not None:
            data["state"] = self.state
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str | None) -> EntityState:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(exists=bool(data.get("exists", data.get("state") is not None)), state=data.get("state"))


@dataclass(frozen=True)
class Operation:
    """One RequestMessage taken from an EventRaised message."""

    message: TaskMessage
    name: str
    input: str | None
    request_id: str
    is_signal: bool
    parent: str | None
    parent_execution: str | None


def request_message(
    operation: str, input_text: str | None, *, signal: bool, request_id: str | None = None
) -> dict[str, Any]:
    """A RequestMessage as a client sends it (no parent)."""
    message: dict[str, Any] = {"op": operation, "id": request_id or str(uuid.uuid4()), "input": input_text}
    if signal:
        message["signal"] = True
    return message


def _parse_operation(message: TaskMessage) -> Operation | None:
    event = message.event
    name = event.name or ""
    if event.event_type != EventType.EVENT_RAISED or name in ("release", "continue"):
        return None
    try:
        request = json.loads(event.input or "")
    except ValueError:
        return None
    if not isinstance(request, dict) or "op" not in request:
        return None
    return Operation(
        message=message,
        name=str(request["op"]),
        input=request.get("input"),
        request_id=str(request.get("id") or uuid.uuid4()),
        is_signal=bool(request.get("signal")),
        parent=request.get("parent"),
        parent_execution=request.get("parentExecution"),
    )


class EntityEpisode:
    def __init__(
        self,
        instance_id: str,
        instance: InstanceState | None,
        messages: list[TaskMessage],
        *,
        now: datetime,
        max_batch_size: int = 5000,
    ) -> None:
        self.entity = EntityId.parse(instance_id)
        self.instance = instance
        self.now = now
        self.now_text = format_timestamp(now)
        self.scheduler = EntityState.from_json(instance.input if instance else None)
        self.dropped: list[DroppedMessage] = []
        self.deferred: list[TaskMessage] = []
        self.out_messages: list[TaskMessage] = []
        self.batch: list[Operation] = []
        for message in messages:
            operation = _parse_operation(message)
            if operation is None:
                self.dropped.append(DroppedMessage(message, "not an entity operation"))
            elif len(self.batch) < max_batch_size:
                self.batch.append(operation)
            else:
                self.deferred.append(message)  # the next batch takes it, in order

    def batch_request(self) -> str:
        """The entityTrigger payload the SDK's `Entity.create` handle reads (sdk-protocol §3.1)."""
        return json.dumps(
            {
                "self": {"name": self.entity.name, "key": self.entity.key},
                "exists": self.scheduler.exists,
                "state": self.scheduler.state,
                "batch": [
                    {"name": op.name, "input": op.input, "isSignal": op.is_signal} for op in self.batch
                ],
            }
        )

    def apply_result(self, payload: Any) -> None:
        data = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
        exists = bool(data.get("entityExists"))
        state = data.get("entityState") if exists else None
        self.scheduler = EntityState(exists=exists, state=state)
        results = data.get("results") or []
        for op, result in zip(self.batch, results, strict=False):
            if not op.is_signal and op.parent:
                response: dict[str, Any] = {"result": result.get("result")}
                if result.get("isError"):
                    response["exceptionType"] = "Error"
                self._respond(op, response)
        for signal in data.get("signals") or []:
            target = EntityId.of(signal["target"]["name"], signal["target"]["key"])
            body = request_message(signal["name"], signal.get("input"), signal=True)
            self.out_messages.append(
                TaskMessage(
                    target.instance_id,
                    HistoryEvent(
                        EventType.EVENT_RAISED,
                        timestamp=self.now_text,
                        name=signal["name"],
                        input=json.dumps(body),
                    ),
                )
            )

    def apply_exception(self, exc: BaseException) -> None:
        """The entity function itself failed (not one operation): every caller gets the error."""
        for op in self.batch:
            if not op.is_signal and op.parent:
                self._respond(
                    op, {"result": json.dumps(f"{type(exc).__name__}: {exc}"), "exceptionType": "Error"}
                )

    def _respond(self, op: Operation, response: dict[str, Any]) -> None:
        assert op.parent is not None
        event = HistoryEvent(
            EventType.EVENT_RAISED, timestamp=self.now_text, name=op.request_id, input=json.dumps(response)
        )
        self.out_messages.append(TaskMessage(op.parent, event, execution_id=op.parent_execution))

    def commit(self) -> EpisodeCommit:
        if not self.batch:
            return EpisodeCommit(None, [], False, [], self.dropped, self.deferred)
        execution_id = uuid.uuid4().hex
        stored_input = self.scheduler.to_json()
        start = HistoryEvent(
            EventType.EXECUTION_STARTED,
            timestamp=self.now_text,
            name=self.entity.instance_id,
            version="",
            input=stored_input,
            instance_id=self.entity.instance_id,
            execution_id=execution_id,
        )
        history = [
            HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp=self.now_text),
            start,
            HistoryEvent(EventType.ORCHESTRATOR_COMPLETED, timestamp=self.now_text),
        ]
        status = {"entityExists": self.scheduler.exists, "queueSize": len(self.deferred)}
        base = self.instance or InstanceState(
            self.entity.instance_id,
            self.entity.instance_id,
            execution_id,
            RuntimeStatus.RUNNING,
            self.now,
            self.now,
        )
        # As on Azure Storage, each batch starts a new entity execution, so CreatedTime is the time of
        # the last operation (listing filters on it).
        state = replace(
            base,
            execution_id=execution_id,
            runtime_status=RuntimeStatus.RUNNING,
            created_time=self.now,
            last_updated_time=self.now,
            input=stored_input,
            custom_status=json.dumps(status),
        )
        return EpisodeCommit(state, history, True, self.out_messages, self.dropped, self.deferred)
