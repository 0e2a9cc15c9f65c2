"""The monitor page and its assets over aiohttp, without a browser: routes, content types, the key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from durable_ext.api.monitor import ASSETS, monitor_routes
from durable_ext.api.urls import WEBHOOK_PATH

MONITOR = WEBHOOK_PATH + "/monitor"


def with_client(base_path: str, check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def run() -> None:
        app = web.Application()
        app.add_routes(monitor_routes(base_path))
        async with TestClient(TestServer(app)) as client:
            await check(client)

    asyncio.run(run())


def test_page_and_assets_have_their_content_types() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        for path in (MONITOR, MONITOR + "/"):
            page = await client.get(path)
            assert page.status == 200
            assert page.headers["Content-Type"] == "text/html; charset=utf-8"
            assert page.headers["X-Content-Type-Options"] == "nosniff"
            assert "script-src 'self'" in page.headers["Content-Security-Policy"]
            text = await page.text()
            assert (
                '<script type="module" src="/runtime/webhooks/durabletask/monitor/assets/monitor.js">' in text
            )
            assert 'href="/runtime/webhooks/durabletask/monitor/assets/monitor.css"' in text
            assert '<meta name="durable-api-base" content="/runtime/webhooks/durabletask">' in text
            assert "{{" not in text
        expected = {"monitor.js": "text/javascript; charset=utf-8", "monitor.css": "text/css; charset=utf-8"}
        assert set(ASSETS) == set(expected)
        for name, content_type in expected.items():
            asset = await client.get(f"{MONITOR}/assets/{name}")
            assert asset.status == 200
            assert asset.headers["Content-Type"] == content_type
            assert len(await asset.text()) > 1000
        head = await client.head(f"{MONITOR}/assets/monitor.js")
        assert head.status == 200

    with_client(WEBHOOK_PATH, check)


def test_only_the_known_assets_are_served() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        for name in ("index.html", "__init__.py", "..%2F__init__.py", "nothing.js"):
            response = await client.get(f"{MONITOR}/assets/{name}")
            assert response.status == 404, name
        post = await client.post(MONITOR)
        assert post.status == 405

    with_client(WEBHOOK_PATH, check)


def test_code_on_the_page_url_is_carried_to_the_assets() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        text = await (await client.get(MONITOR, params={"code": 'k&"<y'})).text()
        assert 'src="/runtime/webhooks/durabletask/monitor/assets/monitor.js?code=k%26%22%3Cy"' in text
        assert 'href="/runtime/webhooks/durabletask/monitor/assets/monitor.css?code=k%26%22%3Cy"' in text

    with_client(WEBHOOK_PATH, check)


def test_base_path_may_name_the_page_itself_or_another_prefix() -> None:
    async def page_at_monitor(client: TestClient[Any, Any]) -> None:
        assert (await client.get(MONITOR)).status == 200
        assert (await client.get(MONITOR + "/assets/monitor.css")).status == 200

    with_client(MONITOR, page_at_monitor)

    async def other_prefix(client: TestClient[Any, Any]) -> None:
        page = await client.get("/custom/hooks/monitor")
        assert page.status == 200
        assert '<meta name="durable-api-base" content="/custom/hooks">' in await page.text()

    with_client("/custom/hooks/", other_prefix)
