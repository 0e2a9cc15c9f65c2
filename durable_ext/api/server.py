"""The host's aiohttp application: function routes, the durable HTTP API and the admin routes."""

from __future__ import annotations

from aiohttp import web

from .admin import AdminApi
from .durable_api import DurableHttpApi
from .functions import HttpFunctions
from .monitor import monitor_routes
from .urls import WEBHOOK_PATH


def build_web_app(durable_api: DurableHttpApi, functions: HttpFunctions, admin: AdminApi) -> web.Application:
    app = web.Application(client_max_size=100 * 1024 * 1024)
    app.add_routes([*admin.routes(), *durable_api.routes(), *monitor_routes(WEBHOOK_PATH)])
    # Everything else may be a function route; unmatched paths answer 404 there.
    app.router.add_route("*", "/{tail:.*}", functions.handle)
    return app
