"""The monitor web page: plain HTML, CSS and one JavaScript module, served by the host.

The page is a client of the public Durable Functions HTTP API only (instances, history, management
operations, entities): it reads nothing from the store directly. It is served at
``{base_path}/monitor`` with its assets under ``{base_path}/monitor/assets/``; ``base_path`` is the
durable webhook path (``/runtime/webhooks/durabletask``), which is also the API base the page calls.
A ``code`` query parameter on the page URL is forwarded to the assets and to every API call, so the
page works where the host requires a key.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib import resources
from urllib.parse import quote

from aiohttp import web

__all__ = ["ASSETS", "monitor_routes"]

# File name -> content type; nothing else in the package folder is ever served.
ASSETS: dict[str, str] = {
    "monitor.js": "text/javascript",
    "monitor.css": "text/css",
}
_PAGE = "index.html"
_SECURITY_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


def _read(name: str) -> str:
    return resources.files(__name__).joinpath("static", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class _Monitor:
    api_base: str
    page_path: str
    page_template: str
    assets: dict[str, str]

    def _with_code(self, request: web.Request, url: str) -> str:
        code = request.query.get("code")
        return f"{url}?code={quote(code, safe='')}" if code else url

    async def page(self, request: web.Request) -> web.Response:
        assets = self.page_path + "/assets/"
        text = (
            self.page_template.replace("{{API_BASE}}", html.escape(self.api_base))
            .replace("{{SCRIPT_URL}}", html.escape(self._with_code(request, assets + "monitor.js")))
            .replace("{{STYLE_URL}}", html.escape(self._with_code(request, assets + "monitor.css")))
        )
        return web.Response(text=text, content_type="text/html", charset="utf-8", headers=_SECURITY_HEADERS)

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.assets:
            raise web.HTTPNotFound()
        return web.Response(
            text=self.assets[name], content_type=ASSETS[name], charset="utf-8", headers=_SECURITY_HEADERS
        )


def monitor_routes(base_path: str) -> list[web.RouteDef]:
    """Routes of the monitor page for the durable HTTP API rooted at ``base_path``.

    ``base_path`` is the webhook path, e.g. ``/runtime/webhooks/durabletask``; the page is then served at
    ``/runtime/webhooks/durabletask/monitor``. A path that already ends in ``/monitor`` is taken as the
    page's own path, with the API at its parent.
    """
    base = "/" + base_path.strip("/") if base_path.strip("/") else ""
    if base.endswith("/monitor"):
        base = base[: -len("/monitor")]
    monitor = _Monitor(
        api_base=base,
        page_path=base + "/monitor",
        page_template=_read(_PAGE),
        assets={name: _read(name) for name in ASSETS},
    )
    return [
        web.get(monitor.page_path, monitor.page),
        web.get(monitor.page_path + "/", monitor.page),
        web.get(monitor.page_path + "/assets/{name}", monitor.asset),
    ]
