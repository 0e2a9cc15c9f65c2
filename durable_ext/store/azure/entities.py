"""History events as History-table rows, column for column as DT.AS's TableEntityConverter writes them.

Strings, ints and bools are native columns; DateTimes are Edm.DateTime; the non-nullable enums
(EventType, OrchestrationStatus) are their names; objects are Newtonsoft JSON text without `$type`.
`Timestamp` is stored as `_Timestamp` (a reserved column name). Absent (None) values are not written.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from azure.data.tables import EdmType

from ...engine.history import EVENT_TYPE_BY_NAME, EventType, HistoryEvent
from ...engine.status import STATUS_BY_CODE

# (HistoryEvent attribute, column) for plain string/int columns.
_PLAIN_COLUMNS = (
    ("name", "Name"),
    ("version", "Version"),
    ("input", "Input"),
    ("result", "Result"),
    ("reason", "Reason"),
    ("details", "Details"),
    ("task_scheduled_id", "TaskScheduledId"),
    ("timer_id", "TimerId"),
    ("generation", "Generation"),
)
_DATETIME_COLUMNS = (("fire_at", "FireAt"), ("scheduled_start_time", "ScheduledStartTime"))
_JSON_COLUMNS = (
    ("parent_instance", "ParentInstance"),
    ("tags", "Tags"),
    ("failure_details", "FailureDetails"),
)
# DTFx members of object type that reach us only as extras: parsed back from JSON on read.
_JSON_EXTRAS = frozenset({"ParentTraceContext", "State"})
# Columns the store itself adds to every row.
KEY_COLUMNS = frozenset({"PartitionKey", "RowKey", "Timestamp", "ExecutionId"})
_KNOWN_COLUMNS = (
    {column for _, column in (*_PLAIN_COLUMNS, *_DATETIME_COLUMNS, *_JSON_COLUMNS)}
    | KEY_COLUMNS
    | {"EventType", "EventId", "IsPlayed", "_Timestamp", "OrchestrationStatus", "InstanceId"}
    | {"OrchestrationInstance"}
)

_STATUS_NAMES = {code: status.value for code, status in STATUS_BY_CODE.items()}
_STATUS_CODES = {status.value: code for code, status in STATUS_BY_CODE.items()}
_INT32 = range(-(2**31), 2**31)

# The canonical event time text (`format_timestamp`): UTC, 0-7 fraction digits, no trailing zeros.
_CANONICAL_TIME = re.compile(r"^(\d{4})-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?Z$")
_SERVICE_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z?$")


# -- DateTime text ------------------------------------------------------------------------------------
def datetime_text(moment: datetime) -> str:
    """An Edm.DateTime value with .NET's seven fraction digits."""
    moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def datetime_column(moment: datetime) -> tuple[str, EdmType]:
    return (datetime_text(moment), EdmType.DATETIME)


def _time_column(text: str) -> Any:
    """Event time text as Edm.DateTime when it is canonical (so it reads back identical), else String."""
    match = _CANONICAL_TIME.match(text)
    if match is None or int(match.group(1)) < 1601:  # Table storage's DateTime starts in 1601
        return text
    whole, _, fraction = text[:-1].partition(".")
    return (f"{whole}.{fraction.ljust(7, '0')}Z", EdmType.DATETIME)


def service_time_text(value: Any) -> str:
    """The canonical text of a DateTime read from a table (keeping all seven .NET digits)."""
    raw = getattr(value, "tables_service_value", None) or ""
    match = _SERVICE_TIME.match(raw) if raw else None
    if match is None:
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        whole = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        fraction = f"{moment.microsecond:06d}".rstrip("0")
    else:
        whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    return f"{whole}.{fraction}Z" if fraction else f"{whole}Z"


def service_datetime(value: Any) -> datetime:
    """A plain aware datetime from a table DateTime value."""
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=timezone.utc,
    )


def _time_value(value: Any) -> str:
    return value if isinstance(value, str) else service_time_text(value)


# -- writing ------------------------------------------------------------------------------------------
def _extra_column(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if value in _INT32 else (str(value), EdmType.INT64)
    if isinstance(value, float):
        return value
    return json.dumps(value, separators=(",", ":"))


def event_to_entity(event: HistoryEvent) -> dict[str, Any]:
    """The columns of one history row, without its keys and ExecutionId."""
    row: dict[str, Any] = {
        "EventType": event.event_type.dtfx_name,
        "EventId": event.event_id,
        "IsPlayed": event.is_played,
    }
    if event.timestamp:
        row["_Timestamp"] = _time_column(event.timestamp)
    for attr, column in _PLAIN_COLUMNS:
        value = getattr(event, attr)
        if value is not None:
            row[column] = value
    for attr, column in _DATETIME_COLUMNS:
        value = getattr(event, attr)
        if value is not None:
            row[column] = _time_column(value)
    for attr, column in _JSON_COLUMNS:
        value = getattr(event, attr)
        if value is not None:
            row[column] = json.dumps(value, separators=(",", ":"))
    if event.orchestration_status is not None:
        row["OrchestrationStatus"] = _STATUS_NAMES.get(event.orchestration_status, event.orchestration_status)
    if event.event_type == EventType.EXECUTION_STARTED:
        instance = {"InstanceId": event.instance_id, "ExecutionId": event.execution_id}
        row["OrchestrationInstance"] = json.dumps(instance, separators=(",", ":"))
    elif event.instance_id is not None:
        row["InstanceId"] = event.instance_id
    for key, value in event.extras.items():
        if value is not None and key not in row:
            row[key] = _extra_column(value)
    return row


# -- reading ------------------------------------------------------------------------------------------
def _json_or_text(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _plain(value: Any) -> Any:
    """A column value as JSON-like Python (Int64 and other typed values come back as EntityProperty)."""
    if hasattr(value, "edm_type") and hasattr(value, "value"):
        return int(value.value) if value.edm_type == EdmType.INT64 else value.value
    if isinstance(value, datetime):
        return service_time_text(value)
    return value


def entity_to_event(row: dict[str, Any]) -> HistoryEvent:
    """Inverse of `event_to_entity` (large properties must already be back in place)."""
    raw_type = row["EventType"]
    event_type = EVENT_TYPE_BY_NAME[raw_type] if isinstance(raw_type, str) else EventType(int(raw_type))
    kwargs: dict[str, Any] = {}
    for attr, column in _PLAIN_COLUMNS:
        if row.get(column) is not None:
            kwargs[attr] = _plain(row[column])
    for attr, column in _DATETIME_COLUMNS:
        if row.get(column) is not None:
            kwargs[attr] = _time_value(row[column])
    for attr, column in _JSON_COLUMNS:
        if row.get(column) is not None:
            kwargs[attr] = _json_or_text(row[column])
    status = row.get("OrchestrationStatus")
    if status is not None:
        kwargs["orchestration_status"] = _status_code(status)
    if event_type == EventType.EXECUTION_STARTED:
        instance = _json_or_text(row.get("OrchestrationInstance"))
        if isinstance(instance, dict):
            kwargs["instance_id"] = instance.get("InstanceId")
            kwargs["execution_id"] = instance.get("ExecutionId")
    elif row.get("InstanceId") is not None:
        kwargs["instance_id"] = row["InstanceId"]
    extras = {
        key: _json_or_text(value) if key in _JSON_EXTRAS else _plain(value)
        for key, value in row.items()
        if key not in _KNOWN_COLUMNS and not key.startswith(("odata.", "@")) and value is not None
    }
    timestamp = row.get("_Timestamp")
    return HistoryEvent(
        event_type=event_type,
        event_id=int(_plain(row.get("EventId", -1))),
        timestamp=_time_value(timestamp) if timestamp is not None else "",
        is_played=bool(row.get("IsPlayed", False)),
        extras=extras,
        **kwargs,
    )


def as_stored(event: HistoryEvent) -> HistoryEvent:
    """The event as reading its row back returns it: what a cached history must hold to be the
    history a reload would give (extras come back as their column text, times in canonical form)."""
    return entity_to_event({column: _read_back(value) for column, value in event_to_entity(event).items()})


def _read_back(value: Any) -> Any:
    """A written column value as the table returns it (typed values are written as (text, EDM type))."""
    if not isinstance(value, tuple):
        return value
    text, edm_type = value
    if edm_type == EdmType.INT64:
        return int(text)
    if edm_type == EdmType.DATETIME:
        whole, _, fraction = text.rstrip("Z").partition(".")
        fraction = fraction.rstrip("0")
        return f"{whole}.{fraction}Z" if fraction else f"{whole}Z"
    return text


def _status_code(value: Any) -> int:
    if isinstance(value, str):
        if value in _STATUS_CODES:
            return _STATUS_CODES[value]
        if value.lstrip("-").isdigit():
            return int(value)
        # A nullable enum is stored as JSON text: "\"Completed\"".
        parsed = _json_or_text(value)
        return _STATUS_CODES.get(parsed, 0) if isinstance(parsed, str) else int(parsed)
    return int(value)
