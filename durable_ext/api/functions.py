"""Serves the app's HTTP-triggered functions under /<routePrefix>/ (default `api`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from aiohttp import web
from azure.functions.meta import Datum

from ..app.datums import http_request_datum, http_response_from_datum
from ..app.spec import FunctionSpec, InvocationRequest, Invoker, new_invocation_id
from .keys import AuthLevel, HostKeys, presented_key
from .routes import RouteTemplate, compile_route
from .urls import WebhookUrls

log = logging.getLogger("durable_ext.http")
CLIENT_BINDING_TYPES = {"durableclient", "orchestrationclient"}


@dataclass(frozen=True)
class HttpRoute:
    function: FunctionSpec
    template: RouteTemplate
    methods: frozenset[str]  # empty: any method

    def accepts(self, method: str) -> bool:
        return not self.methods or method.upper() in self.methods


def http_routes(functions: list[FunctionSpec]) -> list[HttpRoute]:
    routes = []
    for spec in functions:
        route = spec.trigger.get("route") or spec.name
        methods = frozenset(m.upper() for m in (spec.trigger.get("methods") or []))
        routes.append(HttpRoute(spec, compile_route(str(route)), methods))
    # Literal segments beat parameters, as in ASP.NET routing: try the most specific templates first.
    routes.sort(key=lambda r: (r.template.template.count("{"), -len(r.template.template)))
    return routes


def client_inputs(spec: FunctionSpec, urls: WebhookUrls) -> dict[str, Datum]:
    """Datums for the function's durable client bindings (the JSON the SDK's client is built from)."""
    inputs = {}
    for binding in spec.bindings:
        if binding.type.lower() in CLIENT_BINDING_TYPES and binding.direction == "in":
            payload = urls.client_binding_json(
                task_hub=binding.get("taskHub"), connection_name=binding.get("connectionName")
            )
            inputs[binding.name] = Datum(payload, "string")
    return inputs


class HttpFunctions:
    def __init__(
        self,
        functions: list[FunctionSpec],
        invoker: Invoker,
        urls: WebhookUrls,
        route_prefix: str,
        keys: HostKeys,
    ) -> None:
        self.keys = keys
        self.routes = http_routes(functions)
        self.invoker = invoker
        self.urls = urls
        self.prefix = route_prefix.strip("/")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.strip("/")
        if self.prefix:
            if not (path == self.prefix or path.startswith(self.prefix + "/")):
                return web.Response(status=404)
            path = path[len(self.prefix) :]
        matched = [(r, r.template.match(path)) for r in self.routes]
        candidates = [(r, params) for r, params in matched if params is not None]
        if not candidates:
            return web.Response(status=404)
        allowed = [(r, params) for r, params in candidates if r.accepts(request.method)]
        if not allowed:
            return web.Response(status=405)
        route, params = allowed[0]
        level = AuthLevel.parse(route.function.trigger.get("authLevel"))
        if not self.keys.allows_function(route.function.name, level, presented_key(request)):
            return web.json_response(
                {"Message": f"Unauthorized: '{route.function.name}' needs a {level.value} key"}, status=401
            )
        return await self._invoke(route, params or {}, request)

    async def _invoke(
        self, route: HttpRoute, params: dict[str, str], request: web.Request
    ) -> web.StreamResponse:
        spec = route.function
        body = await request.read()
        urls = replace(self.urls, origin=str(request.url.origin()))
        inputs = {
            spec.trigger.name: http_request_datum(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers),
                query=dict(request.query),
                route_params=params,
                body=body,
            ),
            **client_inputs(spec, urls),
        }
        result = await self.invoker.invoke(InvocationRequest(spec, inputs, invocation_id=new_invocation_id()))
        if result.error is not None:
            return web.Response(status=500)
        datum = result.return_value
        if datum is None:
            datum = next(
                (
                    result.outputs[b.name]
                    for b in spec.bindings
                    if b.type.lower() == "http" and b.name in result.outputs
                ),
                None,
            )
        if datum is None:
            return web.Response(status=204)
        status, headers, content = http_response_from_datum(datum)
        return web.Response(status=status, headers=headers, body=content)
