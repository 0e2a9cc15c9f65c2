"""Runs real DurableHosts on a background event loop thread for tests, each on a free port.

Tests talk to it over real HTTP, and run SDK client coroutines on the host's own loop, because the
SDK keeps one aiohttp session per process bound to the loop that created it.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import azure.durable_functions as df

from durable_ext.host import DurableHost, HostOptions
from durable_ext.testing.loop import shared_loop

T = TypeVar("T")
TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}


class HubHttp:
    """Plain HTTP to a running host: requests and status polling with a deadline."""

    def __init__(self, origin: str) -> None:
        self._origin = origin

    @property
    def origin(self) -> str:
        return self._origin

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        url = path if path.startswith("http") else self.origin + path
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        if data is not None and "Content-Type" not in (headers or {}):
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), _decode(response.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), _decode(error.read())

    def wait_for(
        self, instance_id: str, *, timeout: float = 20.0, statuses: set[str] | None = None, query: str = ""
    ) -> dict[str, Any]:
        """Poll the status endpoint until the instance reaches one of `statuses` (default: terminal)."""
        wanted = statuses or TERMINAL
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            code, _, body = self.http("GET", f"/runtime/webhooks/durabletask/instances/{instance_id}{query}")
            last = body
            if code in (200, 202, 500) and isinstance(body, dict) and body.get("runtimeStatus") in wanted:
                return body
            time.sleep(0.02)
        raise AssertionError(
            f"instance {instance_id} did not reach {sorted(wanted)} in {timeout}s; last: {last}"
        )


class HostRunner(HubHttp):
    def __init__(
        self,
        script_root: Path,
        *,
        host_json: Path | None = None,
        local_settings: Path | None = None,
        span_exporter: Any = None,
    ) -> None:
        self.span_exporter = span_exporter
        self.options = HostOptions(
            script_root=script_root, host_json=host_json, local_settings=local_settings, port=0
        )
        self.loop = shared_loop()  # the SDK's one aiohttp session per process is bound to one loop
        self.host: DurableHost | None = None
        self._environ_added: dict[str, str | None] = {}

    def start(self) -> HostRunner:
        async def boot() -> DurableHost:
            host = DurableHost(self.options, span_exporter=self.span_exporter)
            await host.start()
            return host

        before = dict(os.environ)
        self.host = self.run(boot())
        # The host copies local.settings.json Values into os.environ, where they would outlive it and
        # beat the next host's own settings (environment variables win): undo exactly that at stop.
        self._environ_added = {k: before.get(k) for k, v in os.environ.items() if before.get(k) != v}
        return self

    def stop(self) -> None:
        if self.host is not None:
            self.run(self.host.stop(), timeout=60)
            self.host = None
        for key, value in self._environ_added.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._environ_added = {}

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def origin(self) -> str:
        assert self.host is not None
        return self.host.origin

    def client(self) -> df.DurableOrchestrationClient:
        assert self.host is not None
        return df.DurableOrchestrationClient(self.host.urls.client_binding_json())


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode()


def poll_until(predicate: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.02) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(interval)
