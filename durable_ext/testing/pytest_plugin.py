"""pytest fixtures for testing Durable Functions apps (registered as a `pytest11` plugin; without the
entry point, load it with `-p durable_ext.testing.pytest_plugin` or `pytest_plugins = [...]`).

    def test_hello(durable_app):
        app = durable_app("path/to/app")          # started now, closed after the test
        instance_id = app.start("HelloWorld", "Tokyo")
        assert app.wait_for_completion(instance_id).output == "Hello Tokyo!"

`durable_app_module` is the same factory with hosts shared by every test of a module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pytest

from .host import TestHost


class DurableAppFactory(Protocol):
    def __call__(
        self,
        script_root: Path | str,
        *,
        host_json: Path | None = None,
        local_settings: Path | None = None,
        settings: Mapping[str, str] | None = None,
        start_time: datetime | None = None,
    ) -> TestHost: ...


class _Hosts:
    """Opens hosts on request, each with its hub in a fresh folder, and closes them all at the end."""

    def __init__(self, make_dir: Iterator[Path]) -> None:
        self._make_dir = make_dir
        self._hosts: list[TestHost] = []

    def __call__(
        self,
        script_root: Path | str,
        *,
        host_json: Path | None = None,
        local_settings: Path | None = None,
        settings: Mapping[str, str] | None = None,
        start_time: datetime | None = None,
    ) -> TestHost:
        host = TestHost(
            script_root,
            store_dir=next(self._make_dir),
            host_json=host_json,
            local_settings=local_settings,
            settings=settings,
            start_time=start_time,
        )
        host.open()
        self._hosts.append(host)
        return host

    def close(self) -> None:
        while self._hosts:
            self._hosts.pop().close()


def _dirs(factory: pytest.TempPathFactory, prefix: str) -> Iterator[Path]:
    while True:
        yield factory.mktemp(prefix)


@pytest.fixture
def durable_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DurableAppFactory]:
    """Factory: `durable_app(script_root, ...)` -> an open TestHost, closed when the test ends."""
    hosts = _Hosts(_dirs(tmp_path_factory, "durable-hub"))
    try:
        yield hosts
    finally:
        hosts.close()


@pytest.fixture(scope="module")
def durable_app_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DurableAppFactory]:
    """Like `durable_app`, but the hosts live until the module's last test (state carries over)."""
    hosts = _Hosts(_dirs(tmp_path_factory, "durable-hub"))
    try:
        yield hosts
    finally:
        hosts.close()
