"""Fixtures of the TaskHubStore conformance suite: every test runs once per backend in `BACKENDS`.

Tests are `async def` and talk to the store only through the `TaskHubStore` protocol. The
`pytest_pyfunc_call` hook below runs each one on its test's own event loop: the loop that opened the
store and that closes it (the SQLite store binds its connection to an executor at `open()`).

Adding a backend is one function: decorate a generator with `@backend("azure")` that takes
`(tmp_path, clock)`, yields a factory of new unopened stores on one fresh task hub, and deletes that
hub after the `yield`. (It may `pytest.skip(...)` when no account is configured.)
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from durable_ext.config import StorageProviderSettings
from durable_ext.store.azure import AzureStorageTaskHubStore
from durable_ext.store.base import TaskHubStore
from durable_ext.store.sqlite import SqliteTaskHubStore
from tests.store_azure.azurite import shared_azurite

START = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)


class FakeClock:
    """A `Clock` that only moves when told to."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


StoreFactory = Callable[[], TaskHubStore]
"""Makes a new, unopened store on the test's task hub; calling it again is a host restart."""

HubProvider = Callable[[Path, FakeClock], Iterator[StoreFactory]]
"""Yields the factory of one fresh task hub, and deletes that hub after the yield."""

BACKENDS: dict[str, HubProvider] = {}


def backend(name: str) -> Callable[[HubProvider], HubProvider]:
    def register(provider: HubProvider) -> HubProvider:
        BACKENDS[name] = provider
        return provider

    return register


@backend("sqlite")
def sqlite_hub(tmp_path: Path, clock: FakeClock) -> Iterator[StoreFactory]:
    yield lambda: SqliteTaskHubStore(tmp_path / "hub.sqlite", clock=clock)


@backend("azure")
def azure_hub(tmp_path: Path, clock: FakeClock) -> Iterator[StoreFactory]:
    """A fresh hub in the session's Azurite (fails, not skips, when Azurite is not installed)."""
    connection = shared_azurite().connection_string
    hub_name = f"Conf{uuid.uuid4().hex[:20]}"

    def make() -> AzureStorageTaskHubStore:
        return AzureStorageTaskHubStore(
            connection, hub_name=hub_name, settings=StorageProviderSettings(), clock=clock
        )

    yield make

    async def delete_hub() -> None:
        store = make()
        try:
            await store.delete_task_hub()
        finally:
            await store.close()

    asyncio.run(delete_hub())


def xfail_on(request: pytest.FixtureRequest, backend_name: str, reason: str) -> None:
    """Mark the running test a strict expected failure on one backend only: a known bug of that store."""
    if request.node.callspec.params.get("hub") == backend_name:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


# -- fixtures ----------------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "reopen: closes the store and opens a new one on the same hub (durability; per-backend restart)",
    )
    config.addinivalue_line(
        "markers",
        "advances_clock: relies on the store reading time (visibility, delays) from the injected clock",
    )


@pytest.fixture(autouse=True)
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop per test: it opens the store, runs the test body and closes the store."""
    new_loop = asyncio.new_event_loop()
    try:
        yield new_loop
    finally:
        new_loop.run_until_complete(new_loop.shutdown_asyncgens())
        new_loop.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(BACKENDS))
def hub(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[StoreFactory]:
    yield from BACKENDS[request.param](tmp_path, clock)


@pytest.fixture
def store(hub: StoreFactory, loop: asyncio.AbstractEventLoop) -> Iterator[TaskHubStore]:
    opened = hub()
    loop.run_until_complete(opened.open())
    try:
        yield opened
    finally:
        loop.run_until_complete(opened.close())


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests on the test's event loop (there is no pytest-asyncio here)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    test_loop = pyfuncitem.funcargs["loop"]
    assert isinstance(test_loop, asyncio.AbstractEventLoop)
    names = inspect.signature(pyfuncitem.obj).parameters
    test_loop.run_until_complete(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True
