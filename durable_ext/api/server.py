"""The host's aiohttp application: function routes, the durable HTTP API and the admin status."""

from __future__ import annotations

from aiohttp import web

from .durable_api import DurableHttpApi
from .functions import HttpFunctions


async def _host_status(request: web.Request) -> web.Response:
    return web.json_response({"state": "Running"})


def build_web_app(durable_api: DurableHttpApi, functions: HttpFunctions) -> web.Application:
    app = web.Application(client_max_size=100 * 1024 * 1024)
    app.add_routes([web.get("/admin/host/status", _host_status), *durable_api.routes()])
    # Everything else may be a function route; unmatched paths answer 404 there.
    app.router.add_route("*", "/{tail:.*}", functions.handle)
    return app
