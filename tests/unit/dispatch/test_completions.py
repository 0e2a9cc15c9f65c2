"""CompletionNotices: a waiter is woken by `ended` for its own instance only, and leaves no trace."""

from __future__ import annotations

import asyncio

from durable_ext.dispatch.completions import CompletionNotices


def test_ended_wakes_the_waiters_of_that_instance_only() -> None:
    async def scenario() -> tuple[bool, bool, int, bool]:
        notices = CompletionNotices()
        with notices.watching("a") as a, notices.watching("b") as b:
            waits = [asyncio.create_task(a.wait(30)), asyncio.create_task(b.wait(30))]
            await asyncio.sleep(0)
            notices.ended("a")
            await asyncio.wait_for(waits[0], timeout=5)
            b_still_waits = not waits[1].done()
            notices.ended("b")
            await asyncio.wait_for(waits[1], timeout=5)
            watched_inside = len(notices._watches)
        return b_still_waits, not notices._watches, watched_inside, all(w.done() for w in waits)

    b_still_waits, cleaned_up, watched_inside, both_done = asyncio.run(scenario())
    assert b_still_waits and both_done
    assert watched_inside == 2 and cleaned_up


def test_ended_with_nobody_waiting_is_a_no_op() -> None:
    notices = CompletionNotices()
    notices.ended("nobody")
    assert not notices._watches
