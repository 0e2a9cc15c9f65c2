"""CompletionNotices: a waiter is woken by `ended` for its own instance only, and leaves no trace."""

from __future__ import annotations

import asyncio

from durable_ext.dispatch.completions import CompletionNotices


def test_ended_wakes_the_waiters_of_that_instance_only() -> None:
    async def scenario() -> tuple[bool, bool, int]:
        notices = CompletionNotices()
        with notices.watching("a") as a, notices.watching("b") as b:
            waits = [asyncio.create_task(a.wait(30)), asyncio.create_task(b.wait(0.05))]
            await asyncio.sleep(0)
            notices.ended("a")
            done, _ = await asyncio.wait(waits, timeout=5, return_when=asyncio.FIRST_COMPLETED)
            first_done_is_a = done == {waits[0]}
            await asyncio.gather(*waits)
            left = len(notices._watches)
        return first_done_is_a, not notices._watches, left

    first_done_is_a, cleaned_up, watched_inside = asyncio.run(scenario())
    assert first_done_is_a
    assert watched_inside == 2 and cleaned_up


def test_ended_with_nobody_waiting_is_a_no_op() -> None:
    notices = CompletionNotices()
    notices.ended("nobody")
    assert not notices._watches
