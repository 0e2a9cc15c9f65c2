"""The one background event loop every in-process test host runs on.

The SDK's client keeps a single aiohttp session per process, bound to the loop that first used it, so
hosts started by different tests must share a loop, as functions in one worker process do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_LOOP: asyncio.AbstractEventLoop | None = None
_LOCK = threading.Lock()


def shared_loop() -> asyncio.AbstractEventLoop:
    """The loop, started on a daemon thread on first use."""
    global _LOOP
    with _LOCK:
        if _LOOP is None or _LOOP.is_closed():
            _LOOP = asyncio.new_event_loop()
            threading.Thread(target=_LOOP.run_forever, name="durable-test-hosts", daemon=True).start()
        return _LOOP


def run_on_loop(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run `coro` on the shared loop and wait for it from this (test) thread."""
    loop = shared_loop()
    if _on_loop_thread(loop):
        coro.close()
        raise RuntimeError(
            "a TestHost method was called from the host's own event loop thread (e.g. from an async "
            "function of the app); call it from the test instead"
        )
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:  # the builtin TimeoutError from Python 3.11 on
        future.cancel()
        raise


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
