"""The SDK client's calls to this host, served in process.

An app's `durableClient` (an HTTP starter, any `async def` function) runs on the host's event loop, and
the SDK's client sends every call as HTTP to the host's webhook URLs: on this host a loopback round trip
through aiohttp's client and server, about 40% of the CPU of a raised event (measured on the bench's
external_events: 1.01-1.08 -> 0.54-0.62 CPU ms per event). While a host runs, a call made on its own
loop to its own origin goes straight to the same durable HTTP API handlers: the same routes, key check,
status codes and JSON bodies, with no socket in between. Everything else still goes over HTTP: another
origin, a client on another thread or loop (a sync function with its own `asyncio.run`), a path no
durable route serves, and every call to a host whose app has middlewares (tracing) or that started with
the setting DURABLE_EXT_SDK_CLIENT_HTTP=1.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDictProxy
from yarl import URL

log = logging.getLogger("durable_ext.api")

FORCE_HTTP_SETTING = "DURABLE_EXT_SDK_CLIENT_HTTP"
_SDK_CLIENT_MODULE = "azure.durable_functions.models.DurableOrchestrationClient"
_SDK_CALLS = ("post_async_request", "get_async_request", "delete_async_request")
_NO_BODY_TYPE = "application/octet-stream"  # what aiohttp reports for a request without Content-Type

SdkResponse = list[Any]  # [status, decoded JSON body], what the SDK's request helpers return


class LocalRequest(dict[str, Any]):
    """What the durable API handlers read of an `aiohttp.web.Request`, built from a call's arguments.
    A dict, as a request is a mapping of per-request values: the start handler reads the traceparent a
    tracing middleware would put there (none does here: a host with middlewares is never served here)."""

    def __init__(self, method: str, url: URL, body: bytes, headers: CIMultiDict[str]) -> None:
        super().__init__()
        self.method = method
        self.url = url
        self.rel_url = url.relative()
        self.headers = CIMultiDictProxy(headers)
        self.query: MultiDictProxy[str] = url.query
        self.content_type = headers.get("Content-Type", _NO_BODY_TYPE)
        self.match_info: dict[str, str] = {}
        self._body = body

    async def read(self) -> bytes:
        return self._body


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class _Host:
    loop: asyncio.AbstractEventLoop
    router: web.UrlDispatcher


@dataclass(frozen=True)
class _Route:
    """Where one URL goes: its host, the handler and the path's parameters."""

    host: _Host
    url: URL
    handler: Handler
    match_info: dict[str, str]


class LocalWebhooks:
    """The hosts of this process whose durable API serves SDK calls in process, by origin."""

    ROUTES_KEPT = 1024  # resolved URLs remembered (a client repeats its URLs: raise to one instance, ...)

    def __init__(self) -> None:
        self._hosts: dict[str, _Host] = {}
        self._routes: dict[tuple[str, str], _Route] = {}
        self.served = 0  # calls answered in process (tests read it)

    def register(self, origin: str, routes: Iterable[web.RouteDef]) -> None:
        """Serve calls to `origin` made on the running loop with `routes` (the durable API's), unless
        the setting says HTTP (read here, as the host starts, like every app setting)."""
        if os.environ.get(FORCE_HTTP_SETTING, "").strip() == "1":
            return
        router = web.UrlDispatcher()
        router.add_routes(routes)
        self._hosts[_origin_of(origin)] = _Host(asyncio.get_running_loop(), router)
        self._routes.clear()

    def unregister(self, origin: str) -> None:
        self._hosts.pop(_origin_of(origin), None)
        self._routes.clear()

    async def call(
        self, method: str, url_text: str, data: Any, headers: dict[str, str]
    ) -> SdkResponse | None:
        """The SDK's [status, body] for this call, or None when it must go over HTTP."""
        if not self._hosts:
            return None
        route = self._routes.get((method, url_text)) or await self._resolve(method, url_text)
        if route is None or route.host.loop is not asyncio.get_running_loop():
            return None
        body = b"" if data is None else json.dumps(data).encode()
        fields = CIMultiDict(headers)
        if data is not None:
            fields["Content-Type"] = "application/json"  # as aiohttp's json= sends it
        request = LocalRequest(method, route.url, body, fields)
        request.match_info = dict(route.match_info)
        # Its own task, shielded: as over HTTP, a caller that gives up does not cut the handler off
        # half-way through (say between locking an instance and committing its episode).
        response = await asyncio.shield(asyncio.ensure_future(_answer(route.handler, request, url_text)))
        self.served += 1
        return response

    async def _resolve(self, method: str, url_text: str) -> _Route | None:
        url = URL(url_text)
        host = self._hosts.get(str(url.origin()))
        if host is None:
            return None
        match = await host.router.resolve(cast(web.Request, LocalRequest(method, url, b"", CIMultiDict())))
        if match.http_exception is not None:  # no durable route: HTTP gives the real answer
            return None
        route = _Route(host, url, cast(Handler, match.handler), dict(match))
        if len(self._routes) >= self.ROUTES_KEPT:
            self._routes.clear()
        self._routes[(method, url_text)] = route
        return route


async def _answer(handler: Handler, request: LocalRequest, url: str) -> SdkResponse:
    try:
        response = await handler(cast(web.Request, request))
    except Exception:  # what aiohttp's server does with a handler's error: log it, answer 500
        log.exception("Error handling the in-process SDK request %s %s", request.method, url)
        return [500, None]
    body = response.body if isinstance(response, web.Response) else None
    raw = bytes(body) if isinstance(body, (bytes, bytearray)) else b""
    # As the SDK reads a response: `response.json(content_type=None)`, None for an empty body.
    return [response.status, json.loads(raw) if raw.strip() else None]


def _origin_of(url: str) -> str:
    return str(URL(url).origin())  # as yarl writes it (a default port dropped), for the look-up


LOCAL_WEBHOOKS = LocalWebhooks()


def install_local_sdk_calls() -> None:
    """Route the SDK client's request helpers through `LOCAL_WEBHOOKS` first (idempotent). The client
    binds them when it is constructed, from its module's globals, so those are what is replaced."""
    module = importlib.import_module(_SDK_CLIENT_MODULE)
    for name in _SDK_CALLS:
        current = getattr(module, name)
        if not getattr(current, "_durable_ext_local", False):
            setattr(module, name, _local_first(name, current))


def _local_first(name: str, over_http: Callable[..., Awaitable[SdkResponse]]) -> Callable[..., Any]:
    method = name.split("_", 1)[0].upper()

    async def call(url: str, *args: Any, **kwargs: Any) -> SdkResponse:
        data, headers = _arguments(method, args, kwargs)
        answered = await LOCAL_WEBHOOKS.call(method, url, data, headers)
        if answered is None:
            return await over_http(url, *args, **kwargs)
        if method == "GET" and answered[1] is None:
            answered[1] = ""  # the SDK's GET helper turns an empty body into ""
        return answered

    call._durable_ext_local = True  # type: ignore[attr-defined]
    return call


def _arguments(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """The body and headers the SDK's helper would send: `post(url, data, trace_parent, trace_state,
    function_invocation_id)`, `get(url, function_invocation_id)`, `delete(url, function_invocation_id)`."""
    names = (
        ("data", "trace_parent", "trace_state", "function_invocation_id")
        if method == "POST"
        else ("function_invocation_id",)
    )
    given = {**dict(zip(names, args, strict=False)), **kwargs}
    headers = {
        header: given[key]
        for key, header in (
            ("trace_parent", "traceparent"),
            ("trace_state", "tracestate"),
            ("function_invocation_id", "X-Azure-Functions-InvocationId"),
        )
        if given.get(key)
    }
    return given.get("data"), headers
