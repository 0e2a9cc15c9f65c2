"""Handing a call to a worker thread and awaiting its outcome on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")


async def run_on(executor: Executor, fn: Callable[[], T]) -> T:
    """`loop.run_in_executor(executor, fn)`, leaner: the worker thread resolves the loop's future itself.
    run_in_executor wraps the executor's future in a second one and copies its state over through two
    more callbacks, a cost paid on every store call and activity, the hot paths of a busy host.

    As with run_in_executor, a call whose caller was cancelled before the thread took it up is skipped,
    and a call already running finishes with its outcome dropped."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    executor.submit(_run_into, fn, future, loop)
    return await future


def _run_into(fn: Callable[[], T], future: asyncio.Future[T], loop: asyncio.AbstractEventLoop) -> None:
    if future.cancelled():  # read from this thread: at worst a call just cancelled still runs, as above
        return
    value: Any = None
    error: BaseException | None = None
    try:
        value = fn()
    except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
        error = exc
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is left to hear it
        loop.call_soon_threadsafe(settle, future, value, error)


def settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    """On the loop's thread: hand a worker's outcome to its caller, unless the caller gave up."""
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
