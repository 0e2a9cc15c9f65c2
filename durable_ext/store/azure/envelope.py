"""The queue message envelope (`DurableTask.AzureStorage.MessageData`) and its JSON text.

Objects carry Newtonsoft's `$type` first, with assembly-less full type names; the event inside is the
engine's DTFx JSON. Writers emit UTF-8 JSON; readers also accept the Base64 form of DT.AS 1.x.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ...engine.history import EventType, HistoryEvent, event_from_json, event_to_json
from ...engine.messages import TaskMessage

MESSAGE_DATA_TYPE = "DurableTask.AzureStorage.MessageData"
TASK_MESSAGE_TYPE = "DurableTask.Core.TaskMessage"
INSTANCE_TYPE = "DurableTask.Core.OrchestrationInstance"
PARENT_INSTANCE_TYPE = "DurableTask.Core.ParentInstance"
FAILURE_DETAILS_TYPE = "DurableTask.Core.FailureDetails"
EXECUTION_CONTEXT_TYPE = "DurableTask.Core.OrchestrationExecutionContext"
TAGS_TYPE = (
    "System.Collections.Generic.Dictionary`2[[System.String, System.Private.CoreLib],"
    "[System.String, System.Private.CoreLib]]"
)
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
# .NET's default(DateTime): what an event with no timestamp serializes as.
MIN_DATETIME = "0001-01-01T00:00:00"


def event_type_name(event_type: EventType) -> str:
    name = event_type.dtfx_name
    return f"DurableTask.Core.History.{name if name == 'GenericEvent' else name + 'Event'}"


# Process-wide and increasing, like DT.AS's static counter; seeded from the wall clock so that a
# restarted host keeps ordering its messages after the ones it sent before.
_sequence = itertools.count(time.time_ns() // 1000)


def next_sequence_number() -> int:
    return next(_sequence)


@dataclass(frozen=True)
class Envelope:
    """One queue message. `message` is None only on the wrapper of a message stored in a blob."""

    message: TaskMessage | None
    activity_id: str = EMPTY_GUID
    sequence_number: int = 0
    episode: int | None = None
    sender: tuple[str, str] | None = None  # (InstanceId, ExecutionId); clients send ("", "")
    compressed_blob_name: str | None = None
    orchestration_tags: dict[str, str] | None = None  # OrchestrationExecutionContext, when sent

    @staticmethod
    def new(
        message: TaskMessage,
        *,
        episode: int | None = None,
        sender: tuple[str, str] | None = ("", ""),
        orchestration_tags: dict[str, str] | None = None,
    ) -> Envelope:
        return Envelope(
            message,
            activity_id=str(uuid.uuid4()),
            sequence_number=next_sequence_number(),
            episode=episode,
            sender=sender,
            orchestration_tags=orchestration_tags,
        )


def wrapper(blob_name: str) -> Envelope:
    """What goes on the queue in place of a large message: only its blob's name."""
    return Envelope(None, compressed_blob_name=blob_name)


# -- writing ------------------------------------------------------------------------------------------
def _typed(type_name: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"$type": type_name, **value}


def _failure_json(details: dict[str, Any]) -> dict[str, Any]:
    out = dict(details)
    inner = out.get("InnerFailure")
    if isinstance(inner, dict):
        out["InnerFailure"] = _failure_json(inner)
    return _typed(FAILURE_DETAILS_TYPE, out)


def event_json(event: HistoryEvent) -> dict[str, Any]:
    """The event as Newtonsoft writes it with TypeNameHandling.Objects."""
    out: dict[str, Any] = {"$type": event_type_name(event.event_type)}
    for key, value in event_to_json(event).items():
        if key == "OrchestrationInstance" and isinstance(value, dict):
            value = _typed(INSTANCE_TYPE, value)
        elif key == "ParentInstance" and isinstance(value, dict):
            value = dict(value)
            if isinstance(value.get("OrchestrationInstance"), dict):
                value["OrchestrationInstance"] = _typed(INSTANCE_TYPE, value["OrchestrationInstance"])
            value = _typed(PARENT_INSTANCE_TYPE, value)
        elif key == "FailureDetails" and isinstance(value, dict):
            value = _failure_json(value)
        elif key == "Tags" and isinstance(value, dict):
            value = _typed(TAGS_TYPE, value)
        elif key == "Timestamp" and value == "":
            value = MIN_DATETIME
        out[key] = value
    return out


def envelope_json(envelope: Envelope) -> dict[str, Any]:
    task_message: dict[str, Any] | None = None
    if envelope.message is not None:
        m = envelope.message
        task_message = {
            "$type": TASK_MESSAGE_TYPE,
            "Event": event_json(m.event),
            "SequenceNumber": 0,
            "OrchestrationInstance": _typed(
                INSTANCE_TYPE, {"InstanceId": m.instance_id, "ExecutionId": m.execution_id}
            ),
        }
        if envelope.orchestration_tags is not None:
            task_message["OrchestrationExecutionContext"] = _typed(
                EXECUTION_CONTEXT_TYPE, {"OrchestrationTags": _typed(TAGS_TYPE, envelope.orchestration_tags)}
            )
    out: dict[str, Any] = {
        "$type": MESSAGE_DATA_TYPE,
        "ActivityId": envelope.activity_id,
        "TaskMessage": task_message,
        "CompressedBlobName": envelope.compressed_blob_name,
        "SequenceNumber": envelope.sequence_number,
    }
    if envelope.episode is not None:
        out["Episode"] = envelope.episode
    if envelope.sender is not None:
        out["Sender"] = {"InstanceId": envelope.sender[0], "ExecutionId": envelope.sender[1]}
    out["SerializableTraceContext"] = None
    return out


def encode(envelope: Envelope) -> str:
    # Newtonsoft leaves non-ASCII text as is: the body is UTF-8 on the wire.
    return json.dumps(envelope_json(envelope), ensure_ascii=False, separators=(",", ":"))


# -- reading ------------------------------------------------------------------------------------------
class EnvelopeError(ValueError):
    """A queue message that is not a MessageData envelope."""


def _untyped(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untyped(v) for k, v in value.items() if k != "$type"}
    if isinstance(value, list):
        return [_untyped(v) for v in value]
    return value


_MIN_DATETIME_TEXT = re.compile(r"^0001-01-01T00:00:00(\.0+)?Z?$")


def _is_min_datetime(text: Any) -> bool:
    return isinstance(text, str) and _MIN_DATETIME_TEXT.match(text) is not None


def event_from_message_json(data: dict[str, Any]) -> HistoryEvent:
    plain = _untyped(data)
    if _is_min_datetime(plain.get("Timestamp")):
        plain["Timestamp"] = ""
    return event_from_json(plain)


def body_text(body: str | bytes) -> str:
    """The JSON text of a message body: UTF-8 JSON as DT.AS 2.x writes it, or 1.x's Base64 of it."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if text.lstrip().startswith("{"):
        return text
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise EnvelopeError("message body is neither JSON nor Base64-encoded JSON") from exc


def decode(body: str | bytes) -> Envelope:
    try:
        data = json.loads(body_text(body))
    except json.JSONDecodeError as exc:
        raise EnvelopeError(f"message body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EnvelopeError("message body is not a JSON object")
    try:
        return _from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(f"message body is not a MessageData envelope: {exc!r}") from exc


def _from_json(data: dict[str, Any]) -> Envelope:
    raw = data.get("TaskMessage")
    message = None
    tags = None
    if isinstance(raw, dict):
        instance = raw.get("OrchestrationInstance") or {}
        event = event_from_message_json(raw["Event"])
        message = TaskMessage(
            instance_id=str(instance.get("InstanceId") or ""),
            event=event,
            execution_id=instance.get("ExecutionId") or None,
        )
        context = raw.get("OrchestrationExecutionContext")
        if isinstance(context, dict) and isinstance(context.get("OrchestrationTags"), dict):
            tags = _untyped(context["OrchestrationTags"])
    sender = data.get("Sender")
    episode = data.get("Episode")
    return Envelope(
        message,
        activity_id=str(data.get("ActivityId") or EMPTY_GUID),
        sequence_number=int(data.get("SequenceNumber") or 0),
        episode=int(episode) if episode is not None else None,
        sender=(str(sender.get("InstanceId") or ""), str(sender.get("ExecutionId") or ""))
        if isinstance(sender, dict)
        else None,
        compressed_blob_name=data.get("CompressedBlobName"),
        orchestration_tags=tags,
    )
