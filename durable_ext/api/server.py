"""The host's aiohttp application: function routes, the durable HTTP API and the admin routes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..telemetry import Telemetry
from .admin import AdminApi
from .durable_api import DurableHttpApi
from .functions import HttpFunctions
from .monitor import monitor_routes
from .request_keys import TRACEPARENT
from .urls import WEBHOOK_PATH


def tracing_middleware(telemetry: Telemetry) -> Any:
    """A server span per request, continuing the caller's `traceparent`; handlers find their own span's
    traceparent under `TRACEPARENT` (a start hands it to the new orchestration)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if not telemetry.enabled:
            return await handler(request)
        route = request.match_info.route.resource
        name = f"{request.method} {route.canonical if route is not None else request.path}"
        with telemetry.span(
            name, request.headers.get("traceparent"), {"http.method": request.method}, "SERVER"
        ) as tp:
            if tp is not None:
                request[TRACEPARENT] = tp
            return await handler(request)

    return middleware


def build_web_app(
    durable_api: DurableHttpApi, functions: HttpFunctions, admin: AdminApi, telemetry: Telemetry | None = None
) -> web.Application:
    middlewares = [tracing_middleware(telemetry)] if telemetry is not None and telemetry.enabled else []
    app = web.Application(client_max_size=100 * 1024 * 1024, middlewares=middlewares)
    app.add_routes([*admin.routes(), *durable_api.routes(), *monitor_routes(WEBHOOK_PATH)])
    # Everything else may be a function route; unmatched paths answer 404 there.
    app.router.add_route("*", "/{tail:.*}", functions.handle)
    return app
