"""When to poll each queue again: DT.AS's per-queue back-off (`BackoffPollingHelper`).

The dispatch loops ask for work whenever a slot frees or a signal fires, which under load is far more
often than a queue can have new messages. Each queue is therefore received from only when its own
schedule says so: at once after a receive that found messages, then 50 ms after an empty one,
doubling (with jitter) up to `maxQueuePollingInterval`. A send or an unhide by this process resets
the queue's schedule (DT.AS wakes its poller on a local enqueue). When a skipped queue comes due,
`on_due` fires, so the dispatcher does not wait out its own back-off on top of this one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MIN_INTERVAL = 0.05  # DT.AS's minimum polling delay
# While in-memory work is ready, a queue that keeps yielding messages is still read at most this
# often: its messages gather into fuller receives, and the ready work goes first.
BUSY_INTERVAL = 0.25
# The longest wait while the worker is busy (it backs off to the maximum only once idle).
ACTIVE_INTERVAL = 1.0


@dataclass
class _QueueState:
    empty_streak: int = 0
    last_poll: float = 0.0
    next_poll: float = 0.0  # time.monotonic(); 0: due now


class PollSchedule:
    def __init__(
        self, max_interval: float, on_due: Callable[[], None], active: Callable[[], bool] = lambda: False
    ) -> None:
        """`active()`: the worker has been busy, so no queue waits longer than `ACTIVE_INTERVAL` (work
        other hosts send, messages a dead host held, come into view without a long back-off)."""
        self.max_interval = max(MIN_INTERVAL, max_interval)
        self._on_due = on_due
        self._active = active
        self._queues: dict[str, _QueueState] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def _state(self, queue: str) -> _QueueState:
        return self._queues.setdefault(queue, _QueueState())

    def _next(self, state: _QueueState, ready_work: bool) -> float:
        at = state.next_poll
        if self._active():
            at = min(at, state.last_poll + ACTIVE_INTERVAL)
        if ready_work and state.empty_streak == 0:
            at = max(at, state.last_poll + BUSY_INTERVAL)
        return at

    def due(self, queues: Iterable[str], *, ready_work: bool = False) -> list[str]:
        """The queues to receive from now; a wake-up is armed for the earliest one skipped.

        `ready_work`: work already in memory goes first, so a queue that keeps yielding messages is
        read at most every `BUSY_INTERVAL`.
        """
        now = time.monotonic()
        ready: list[str] = []
        skipped_until: list[float] = []
        for queue in queues:
            at = self._next(self._state(queue), ready_work)
            if at <= now:
                ready.append(queue)
            else:
                skipped_until.append(at)
        if skipped_until:
            self._arm(min(skipped_until))
        return ready

    def polled(self, queue: str, received: int) -> None:
        state = self._state(queue)
        now = time.monotonic()
        state.last_poll = now
        if received:
            state.empty_streak = 0
            state.next_poll = 0.0
            return
        state.empty_streak += 1
        delay = MIN_INTERVAL * 2 ** (state.empty_streak - 1) * random.uniform(0.8, 1.2)
        state.next_poll = now + min(delay, self.max_interval)
        self._arm(self._next(state, ready_work=False))

    def wake(self, queue: str) -> None:
        """This process made a message visible on `queue`: read it at the next chance."""
        state = self._state(queue)
        state.empty_streak = 0
        state.next_poll = 0.0

    def forget(self, queue: str) -> None:
        self._queues.pop(queue, None)

    def _arm(self, at: float) -> None:
        if self._timer is not None and self._timer_at <= at:
            return  # an earlier (or equal) wake-up is already armed
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = loop.call_at(loop.time() + max(0.0, at - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._on_due()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
