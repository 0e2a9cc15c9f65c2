"""Fixtures of the monitor page's tests: an in-process host serving the page, and headless Chromium."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import durable_ext.host as host_module
from durable_ext.api.monitor import monitor_routes
from durable_ext.api.urls import WEBHOOK_PATH
from tests.support.host_runner import HostRunner

APPS = Path(__file__).resolve().parent / "apps"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MONITOR_PATH = WEBHOOK_PATH + "/monitor"
SYSTEM_KEY = "system/key+="  # characters that need escaping in a query
KEYS = {"masterKey": "master-key", "systemKeys": {"durabletask_extension": SYSTEM_KEY}}
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


@dataclass
class HostGate:
    """A middleware in front of the test host: records each webhook request's path and query, and, while
    `entities_missing` is set, answers the entity endpoints with 404 as a host without entities does."""

    entities_missing: bool = False
    seen: list[str] = field(default_factory=list)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(WEBHOOK_PATH):
            self.seen.append(request.path_qs)
            if self.entities_missing and request.path.startswith(WEBHOOK_PATH + "/entities"):
                return web.Response(status=404)
        return await handler(request)


class MonitorHost(HostRunner):
    gate: HostGate

    @property
    def monitor_url(self) -> str:
        return self.origin + MONITOR_PATH

    def start_instance(
        self, function: str, body: Any = None, instance_id: str | None = None, query: str = ""
    ) -> str:
        path = f"{WEBHOOK_PATH}/orchestrators/{function}" + (f"/{instance_id}" if instance_id else "") + query
        status, _, payload = self.http("POST", path, body)
        assert status == 202, payload
        return str(payload["id"])


def _with_monitor(original: Any, gate: HostGate) -> Any:
    """Wraps server.build_web_app: adds the monitor routes unless server.py registers them already."""

    def build(*args: Any, **kwargs: Any) -> web.Application:
        app: web.Application = original(*args, **kwargs)
        registered = {getattr(r, "canonical", None) for r in app.router.resources()}
        if MONITOR_PATH not in registered:
            app.router.add_routes(monitor_routes(WEBHOOK_PATH))
        app.middlewares.append(gate.middleware)
        return app

    return build


def _start(root: Path) -> MonitorHost:
    shutil.copytree(
        APPS / "monitor_app",
        root,
        ignore=shutil.ignore_patterns(".durable", "__pycache__"),
        dirs_exist_ok=True,
    )
    gate = HostGate()
    runner = MonitorHost(root)
    runner.gate = gate
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(host_module, "build_web_app", _with_monitor(host_module.build_web_app, gate))
        runner.start()
    return runner


@pytest.fixture(scope="module")
def monitor_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MonitorHost]:
    runner = _start(tmp_path_factory.mktemp("monitor") / "monitor_app")
    yield runner
    runner.stop()


@pytest.fixture(scope="module")
def keyed_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MonitorHost]:
    """The same app on a host that requires keys: the durable API answers 401 without `code=`."""
    root = tmp_path_factory.mktemp("keyed") / "monitor_app"
    (root / ".durable").mkdir(parents=True)
    (root / ".durable" / "keys.json").write_text(json.dumps(KEYS))
    runner = _start(root)
    yield runner
    runner.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is absent: install Debian's chromium and chromium-driver to run browser tests"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="monitor-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
