"""Fixtures of the Azure Storage store tests: Azurite, fresh hubs, and a loop per test."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from durable_ext.config import StorageProviderSettings
from durable_ext.store.azure import AzureStorageTaskHubStore, LeaseTimings

from .azurite import shared_azurite


@pytest.fixture(scope="module")
def azurite() -> str:
    """The connection string of the shared Azurite (started on first use; replaced between modules when
    old, see `tests/store_azure/azurite.py`; stopped at the end of the session)."""
    return shared_azurite().connection_string


def unique_hub(prefix: str = "Test") -> str:
    return f"{prefix}{uuid.uuid4().hex[:20]}"


StoreMaker = Callable[..., AzureStorageTaskHubStore]
# A 2 s lease: what a worker holds is hidden 2 s at a time, so a crash shows within seconds.
SHORT_LEASE = LeaseTimings(acquire_interval=0.2, lease_interval=2.0, claim_interval=4.0)


@asynccontextmanager
async def opened(make: StoreMaker, **kwargs: Any) -> AsyncIterator[AzureStorageTaskHubStore]:
    """A store from `make`, opened for the block and closed after it."""
    store = make(**kwargs)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def hub_name() -> str:
    return unique_hub()


@pytest.fixture
def make_store(azurite: str, hub_name: str) -> Iterator[StoreMaker]:
    """Unopened stores on this test's hub; the hub is deleted afterwards."""

    def make(
        *,
        worker_id: str | None = None,
        partition_count: int = 4,
        lease_timings: LeaseTimings | None = None,
        **kwargs: object,
    ) -> AzureStorageTaskHubStore:
        return AzureStorageTaskHubStore(
            azurite,
            hub_name=hub_name,
            settings=StorageProviderSettings(partition_count=partition_count),
            worker_id=worker_id,
            lease_timings=lease_timings,
            **kwargs,  # type: ignore[arg-type]
        )

    yield make

    async def delete() -> None:
        store = make()
        try:
            await store.delete_task_hub()
        finally:
            await store.close()

    asyncio.run(delete())


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    new_loop = asyncio.new_event_loop()
    try:
        yield new_loop
    finally:
        new_loop.run_until_complete(new_loop.shutdown_asyncgens())
        new_loop.close()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests on their own loop (there is no pytest-asyncio here)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    test_loop = pyfuncitem.funcargs.get("loop")
    if not isinstance(test_loop, asyncio.AbstractEventLoop):
        test_loop = asyncio.new_event_loop()
        try:
            _run(test_loop, pyfuncitem)
        finally:
            test_loop.close()
        return True
    _run(test_loop, pyfuncitem)
    return True


def _run(test_loop: asyncio.AbstractEventLoop, pyfuncitem: pytest.Function) -> None:
    names = inspect.signature(pyfuncitem.obj).parameters
    test_loop.run_until_complete(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
