"""Datum constructors for the host side: what the Functions host would send the worker, and back."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any

from azure.functions.meta import Datum


def string_datum(value: str) -> Datum:
    return Datum(value, "string")


def json_datum(text: str) -> Datum:
    """JSON text (not a Python object): converters `json.loads` it themselves."""
    return Datum(text, "json")


def bytes_datum(value: bytes) -> Datum:
    return Datum(value, "bytes")


def http_request_datum(
    method: str,
    url: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    route_params: Mapping[str, str],
    body: bytes,
) -> Datum:
    """The `http` Datum HttpRequestConverter decodes into `func.HttpRequest` (repeated headers pre-joined)."""
    return Datum(
        {
            "method": string_datum(method.upper()),
            "url": string_datum(url),
            "headers": {k: string_datum(v) for k, v in headers.items()},
            "query": {k: string_datum(v) for k, v in query.items()},
            "params": {k: string_datum(v) for k, v in route_params.items()},
            "body": bytes_datum(bytes(body)),
        },
        "http",
    )


def http_response_from_datum(datum: Datum | None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of what an `http` output produced (a `func.HttpResponse`, a str, ...)."""
    if datum is None or datum.type is None or datum.value is None:
        return 204, {}, b""
    if datum.type == "http":
        value = datum.value
        status = int(_plain(value.get("status_code")) or 200)
        headers = {str(k): str(_plain(v)) for k, v in (value.get("headers") or {}).items()}
        return status, headers, _to_bytes(_plain(value.get("body")))
    if datum.type == "string":
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, str(datum.value).encode("utf-8")
    if datum.type == "bytes":
        return 200, {"Content-Type": "application/octet-stream"}, bytes(datum.value)
    if datum.type == "json":
        return 200, {"Content-Type": "application/json; charset=utf-8"}, _to_bytes(datum.value)
    if datum.type in ("int", "double", "bool", "dict", "list"):
        return (
            200,
            {"Content-Type": "application/json; charset=utf-8"},
            json.dumps(datum.value).encode("utf-8"),
        )
    raise TypeError(f"an http output cannot carry a {datum.type!r} Datum")


def http_response_cookies(datum: Datum | None) -> list[str]:
    """`Set-Cookie` header values of an `http` Datum (HttpResponseConverter moves them out of the headers)."""
    if datum is None or datum.type != "http":
        return []
    cookies: list[SimpleCookie] = datum.value.get("cookies") or []
    return [morsel.OutputString() for cookie in cookies for morsel in cookie.values()]


def queue_message_datum(
    body: str | bytes,
    *,
    id: str,
    dequeue_count: int = 1,
    insertion_time: dt.datetime | str | None = None,
    expiration_time: dt.datetime | str | None = None,
    next_visible_time: dt.datetime | str | None = None,
    pop_receipt: str | None = None,
) -> tuple[Datum, dict[str, Datum]]:
    """The queueTrigger input and the trigger metadata QueueMessageInConverter reads its properties from."""
    datum = bytes_datum(body) if isinstance(body, bytes) else string_datum(body)
    metadata: dict[str, Datum] = {"Id": string_datum(id), "DequeueCount": Datum(int(dequeue_count), "int")}
    for key, when in (
        ("InsertionTime", insertion_time),
        ("ExpirationTime", expiration_time),
        ("NextVisibleTime", next_visible_time),
    ):
        if when is not None:
            metadata[key] = string_datum(_iso(when))
    if pop_receipt is not None:
        metadata["PopReceipt"] = string_datum(pop_receipt)
    if isinstance(body, str):
        metadata["QueueTrigger"] = string_datum(body)
    return datum, metadata


def timer_datum(
    *,
    past_due: bool = False,
    schedule_status: Mapping[str, Any] | None = None,
    schedule: Mapping[str, Any] | None = None,
) -> Datum:
    """The timerTrigger input TimerRequestConverter decodes (`IsPastDue`, `ScheduleStatus`, `Schedule`)."""
    payload = {
        "IsPastDue": past_due,
        "ScheduleStatus": dict(schedule_status or {}),
        "Schedule": dict(schedule or {}),
    }
    return json_datum(json.dumps(payload))


def _iso(when: dt.datetime | str) -> str:
    if isinstance(when, str):
        return when
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    # The converter accepts "+00:00" with up to 6 fractional digits.
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Datum) else value


def _to_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)
