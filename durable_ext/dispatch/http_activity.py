"""The built-in durable HTTP activity behind `context.call_http` (`BuiltIn::HttpActivity`).

It sends the request and, like the .NET host's asynchronous pattern, follows a 202 with a `Location`
header by polling that URL (honouring `Retry-After`) until a final answer. Polling happens inside
this one activity, so the orchestrator sees a single completed task and its sequence ids stay the
ones the SDK expects.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

DEFAULT_POLL_SECONDS = 30.0  # httpSettings.defaultAsyncRequestSleepTimeMilliseconds


class DurableHttpError(Exception):
    pass


@dataclass(frozen=True)
class DurableHttpRequest:
    method: str
    uri: str
    content: str | None
    headers: dict[str, str]
    asynchronous_pattern: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DurableHttpRequest:
        if data.get("tokenSource"):
            raise DurableHttpError(
                "call_http with a token_source needs an Azure managed identity, which this host does not "
                "have; pass an Authorization header in `headers` instead."
            )
        headers: dict[str, str] = {}
        for name, value in (data.get("headers") or {}).items():
            headers[name] = ", ".join(value) if isinstance(value, list) else str(value)
        return cls(
            method=str(data.get("method") or "GET").upper(),
            uri=str(data["uri"]),
            content=data.get("content"),
            headers=headers,
            asynchronous_pattern=data.get("asynchronousPatternEnabled", True) is not False,
        )


async def run_durable_http(
    request: DurableHttpRequest, session: aiohttp.ClientSession, *, poll_seconds: float = DEFAULT_POLL_SECONDS
) -> dict[str, Any]:
    """Send `request`; return the DurableHttpResponse JSON object `{statusCode, headers, content}`."""
    body = request.content.encode() if request.content is not None else None
    async with session.request(request.method, request.uri, data=body, headers=request.headers) as response:
        result = await _as_durable_response(response)
        location = response.headers.get("Location")
        retry_after = response.headers.get("Retry-After")
    while request.asynchronous_pattern and result["statusCode"] == 202 and location:
        await asyncio.sleep(_seconds(retry_after, poll_seconds))
        async with session.get(location, headers=request.headers) as response:
            result = await _as_durable_response(response)
            location = response.headers.get("Location") or location
            retry_after = response.headers.get("Retry-After")
    return result


async def _as_durable_response(response: aiohttp.ClientResponse) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    for name in response.headers:
        values = response.headers.getall(name)
        headers[name] = values[0] if len(values) == 1 else values
    return {"statusCode": response.status, "headers": headers, "content": await response.text()}


def _seconds(retry_after: str | None, default: float) -> float:
    try:
        return max(0.0, float(retry_after)) if retry_after else default
    except ValueError:
        return default


def parse_request(work_input: str) -> DurableHttpRequest:
    try:
        return DurableHttpRequest.from_json(json.loads(work_input))
    except (ValueError, KeyError, TypeError) as exc:
        raise DurableHttpError(f"the durable HTTP request is malformed: {exc}") from exc
