"""A bounded-concurrency polling loop shared by the dispatchers: lock work, process it, repeat.

It wakes at once when this host enqueued work (the store's signal), when the next delayed message
(a timer) becomes visible, or after `poll_interval` for work other hosts or clients wrote.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import Generic, Protocol, TypeVar

from ..clock import Clock
from ..store.base import TaskHubStore, WorkSignal

T = TypeVar("T")
MIN_POLL_SECONDS = 0.05
DUE_RETRY_SECONDS = 0.002


class Runnable(Protocol):
    """What the host starts and stops: a dispatcher or a trigger poller."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...

    async def close(self) -> None: ...

    def wake(self) -> None:
        """Look for work now (e.g. after a test clock moved)."""
        ...

    @property
    def idle(self) -> bool:
        """Nothing running and, at the last look, nothing to take (a test clock may then skip time)."""
        ...


log = logging.getLogger("durable_ext.dispatch")


class WorkLoop(ABC, Generic[T]):
    def __init__(
        self,
        name: str,
        signal: WorkSignal,
        store: TaskHubStore,
        clock: Clock,
        max_concurrent: int,
        poll_interval: float,
    ) -> None:
        self.name = name
        self.signal = signal
        self.store = store
        self.clock = clock
        self.poll_interval = poll_interval
        self.max_concurrent = max(1, max_concurrent)
        self._slots = asyncio.Semaphore(self.max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._found_nothing = False
        self._backoff = MIN_POLL_SECONDS

    @abstractmethod
    async def lock_next(self) -> T | None: ...

    @abstractmethod
    async def process(self, item: T) -> None: ...

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self._slots.acquire()
            try:
                item = await self.lock_next()
            except Exception:
                self._slots.release()
                log.exception("%s: reading the task hub failed; retrying", self.name)
                await asyncio.sleep(1.0)
                continue
            if item is None:
                self._slots.release()
                self._found_nothing = True
                await self.signal.wait(await self._idle_timeout())
                self._found_nothing = False  # woken: there may be work now, so not known to be idle
                self._backoff = min(self._backoff * 2, self.poll_interval)
                continue
            self._found_nothing = False
            self._backoff = MIN_POLL_SECONDS
            task = asyncio.create_task(self._process_and_release(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _process_and_release(self, item: T) -> None:
        try:
            await self.process(item)
        except Exception:
            log.exception("%s: unexpected error", self.name)
        finally:
            self._slots.release()

    async def _idle_timeout(self) -> float:
        # Poll again soon after work, then back off towards poll_interval while nothing comes (work
        # this host enqueues wakes the loop at once through the signal anyway).
        timeout = self._backoff
        next_visible = await self.store.next_visible_time()
        if next_visible is not None:
            # A message already due was not lockable just now (its instance is busy): look again
            # shortly rather than at once, which would spin until that instance is free.
            due_in = (next_visible - self.clock.now()).total_seconds()
            timeout = min(timeout, max(DUE_RETRY_SECONDS, due_in))
        return timeout

    @property
    def idle(self) -> bool:
        return self._found_nothing and not self._tasks

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def wake(self) -> None:
        self._found_nothing = False
        self.signal.notify()

    def stop(self) -> None:
        self._stopping.set()
        self.signal.notify()

    async def close(self) -> None:
        """Stop taking work and let what is running finish (its results are committed)."""
        self.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
