"""run_on: a call handed to a worker thread, its outcome awaited on the event loop."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from durable_ext.threads import run_on


def test_returns_the_value_computed_on_the_worker_thread() -> None:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker") as pool:
        name = asyncio.run(run_on(pool, lambda: threading.current_thread().name))
    assert name.startswith("worker")


def test_raises_the_calls_exception_to_the_awaiting_caller() -> None:
    def fail() -> None:
        raise KeyError("missing")

    with ThreadPoolExecutor(max_workers=1) as pool, pytest.raises(KeyError, match="missing"):
        asyncio.run(run_on(pool, fail))


def test_a_call_cancelled_before_its_turn_does_not_run() -> None:
    ran: list[str] = []

    async def scenario(pool: ThreadPoolExecutor) -> None:
        release = threading.Event()
        busy = asyncio.ensure_future(run_on(pool, lambda: release.wait(10)))
        waiting = asyncio.ensure_future(run_on(pool, lambda: ran.append("second")))
        await asyncio.sleep(0)  # both submitted; the first holds the only thread
        waiting.cancel()
        release.set()
        assert await busy is True
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # The pool has taken up and skipped the cancelled call once this later one has run.
        await run_on(pool, lambda: None)

    with ThreadPoolExecutor(max_workers=1) as pool:
        asyncio.run(scenario(pool))
    assert ran == []
