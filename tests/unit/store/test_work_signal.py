"""WorkSignal: a notice wakes the waiter at once, or the next wait if nobody waited; a wait times out;
a cancelled wait leaves nothing behind."""

from __future__ import annotations

import asyncio

import pytest

from durable_ext.store.base import WorkSignal


def test_a_notice_wakes_the_waiter_and_is_then_spent() -> None:
    async def scenario() -> tuple[bool, bool]:
        signal = WorkSignal()
        waiting = asyncio.create_task(signal.wait(30))
        await asyncio.sleep(0)
        still_waiting = not waiting.done()
        signal.notify()
        await asyncio.wait_for(waiting, timeout=5)
        # Spent: the next wait runs to its (short) timeout instead of returning at once.
        loop = asyncio.get_running_loop()
        started = loop.time()
        await signal.wait(0.05)
        return still_waiting, loop.time() - started >= 0.04

    waited_until_notified, spent = asyncio.run(scenario())
    assert waited_until_notified and spent


def test_a_notice_with_nobody_waiting_is_kept_for_the_next_wait() -> None:
    async def scenario() -> bool:
        signal = WorkSignal()
        signal.notify()
        await asyncio.wait_for(signal.wait(30), timeout=5)  # returns at once, not after 30 s
        return not signal._waiters

    assert asyncio.run(scenario())


def test_a_cancelled_wait_leaves_no_waiter() -> None:
    async def scenario() -> WorkSignal:
        signal = WorkSignal()
        waiting = asyncio.create_task(signal.wait(30))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return signal

    signal = asyncio.run(scenario())
    assert not signal._waiters
    signal.notify()  # nobody to wake: kept for a later wait
