"""Per-queue polling back-off: empty receives space polls out, messages and local sends bring them back,
ready work in memory and a busy worker bound the wait from either side."""

from __future__ import annotations

import asyncio
import time

import pytest

from durable_ext.store.azure import polling
from durable_ext.store.azure.polling import PollSchedule


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """time.monotonic() as the test sets it (now[0])."""
    now = [1000.0]
    monkeypatch.setattr(polling.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(polling.random, "uniform", lambda low, high: 1.0)
    return now


def test_a_new_queue_is_due_and_empty_polls_double_the_wait(clock: list[float]) -> None:
    schedule = PollSchedule(30.0, lambda: None)
    assert schedule.due(["q"]) == ["q"]
    waits = []
    for _ in range(12):
        schedule.polled("q", 0)
        start = clock[0]
        while not schedule.due(["q"]):
            clock[0] += 0.001
        waits.append(clock[0] - start)
    assert waits[:4] == pytest.approx([0.05, 0.1, 0.2, 0.4], abs=0.002)
    assert waits[-1] == pytest.approx(30.0, abs=0.002)  # maxQueuePollingInterval


def test_messages_and_local_sends_make_a_queue_due_again(clock: list[float]) -> None:
    schedule = PollSchedule(30.0, lambda: None)
    for _ in range(5):
        schedule.polled("q", 0)
    assert schedule.due(["q"]) == []
    schedule.wake("q")  # this process sent to it
    assert schedule.due(["q"]) == ["q"]
    schedule.polled("q", 3)
    assert schedule.due(["q"]) == ["q"]


def test_ready_work_spaces_out_a_productive_queue_and_a_busy_worker_caps_the_back_off(
    clock: list[float],
) -> None:
    schedule = PollSchedule(30.0, lambda: None)
    schedule.polled("busy", 5)
    assert schedule.due(["busy"], ready_work=True) == []
    clock[0] += polling.BUSY_INTERVAL
    assert schedule.due(["busy"], ready_work=True) == ["busy"]

    active = [False]
    idle = PollSchedule(30.0, lambda: None, lambda: active[0])
    for _ in range(10):
        idle.polled("idle", 0)  # next poll about 25 s away
    assert idle.due(["idle"]) == []
    clock[0] += polling.ACTIVE_INTERVAL
    assert idle.due(["idle"]) == []
    active[0] = True
    assert idle.due(["idle"]) == ["idle"]


async def test_a_skipped_queue_wakes_the_dispatcher_when_it_comes_due() -> None:
    woken = asyncio.Event()
    schedule = PollSchedule(30.0, woken.set)
    schedule.polled("q", 0)
    started = time.monotonic()
    assert schedule.due(["q"]) == []
    await asyncio.wait_for(woken.wait(), 2)
    assert time.monotonic() - started < 1.0
    assert schedule.due(["q"]) == ["q"]
    schedule.close()


async def test_a_busy_worker_is_woken_to_poll_again_within_a_second() -> None:
    woken = asyncio.Event()
    schedule = PollSchedule(30.0, woken.set, lambda: True)
    for _ in range(10):
        schedule.polled("q", 0)  # the back-off alone would wait about 25 s
    started = time.monotonic()
    await asyncio.wait_for(woken.wait(), 3)
    assert time.monotonic() - started <= polling.ACTIVE_INTERVAL + 0.2
    schedule.close()
