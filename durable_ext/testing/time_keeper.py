"""Skips time while a test waits: when nothing in the host can run, jump the clock to the next due
message (a durable timer, a retry delay, a scheduled entity signal) and wake the dispatchers.

"Nothing can run" is judged twice in a row, a few ms apart, from two sources that cover each other's
blind spots: every loop reports `idle`, and the store holds no message that is visible now (a message
being processed stays in the table until its episode commits, so in-flight work counts too). The
number of messages ever written must not change between the two looks either.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from ..dispatch.loop import Runnable
from ..store.sqlite import SqliteTaskHubStore
from .clock import VirtualClock

T = TypeVar("T")
PROBE_INTERVAL = 0.001  # seconds between two looks at the host
BUSY_CHECK_INTERVAL = 0.05  # while work runs, how often to check whether the wait is over


@dataclass(frozen=True)
class HostProbe:
    idle: bool  # every dispatcher and poller found nothing and runs nothing
    runnable: int  # messages visible now: waiting, or being processed
    next_due: datetime | None  # the earliest message that becomes visible later
    written: int  # messages ever written (grows whenever anything happens)

    @property
    def quiet(self) -> bool:
        return self.idle and self.runnable == 0


class WaitTimeout(TimeoutError):
    def __init__(self, message: str, probe: HostProbe | None) -> None:
        super().__init__(message)
        self.probe = probe


class TimeKeeper:
    def __init__(
        self, store: SqliteTaskHubStore, loops: Callable[[], Sequence[Runnable]], clock: VirtualClock
    ) -> None:
        self.store = store
        self.loops = loops
        self.clock = clock
        self._waiters = 0

    async def probe(self) -> HostProbe:
        idle = self.loops_idle()
        now = self.clock.now().timestamp()
        runnable, due, written = await self.store.run(lambda conn: _read_queues(conn, now))
        return HostProbe(
            idle=idle and self.loops_idle(),
            runnable=runnable,
            next_due=None if due is None else datetime.fromtimestamp(due, timezone.utc),
            written=written,
        )

    async def run_until(
        self,
        done: Callable[[], Awaitable[T | None]],
        *,
        timeout: float,
        skip: bool = True,
        horizon: datetime | None = None,
        stop_when_quiet: bool = False,
    ) -> T | None:
        """Poll `done` until it returns a value (returned), skipping time when the host is quiet.

        `horizon`: never skip past it. `stop_when_quiet`: return None once the host is quiet and there
        is nothing (more) to skip to. Raises WaitTimeout after `timeout` real seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        previous: HostProbe | None = None
        probe: HostProbe | None = None
        checked_at = -1.0
        self._waiters += 1
        try:
            while True:
                # While the loops are busy, leave the store thread to them: look only now and then.
                busy = not self.loops_idle()
                if not busy or loop.time() - checked_at >= BUSY_CHECK_INTERVAL:
                    checked_at = loop.time()
                    value = await done()
                    if value is not None:
                        return value
                if busy:
                    previous = None
                else:
                    probe = await self.probe()
                    if probe.quiet and probe == previous:
                        due = probe.next_due
                        if skip and due is not None and (horizon is None or due <= horizon):
                            self.skip_to(due)
                            previous = None
                            continue
                        if stop_when_quiet:
                            return None
                    previous = probe if probe.quiet else None
                if loop.time() >= deadline:
                    raise WaitTimeout(f"gave up after {timeout} s", probe)
                await asyncio.sleep(PROBE_INTERVAL)
        finally:
            self._release()

    def loops_idle(self) -> bool:
        return all(loop.idle for loop in self.loops())

    async def hold(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` (several waits) as one wait, so the clock stays frozen between its steps."""
        self._waiters += 1
        try:
            return await coro
        finally:
            self._release()

    def _release(self) -> None:
        self._waiters -= 1
        if self._waiters == 0:
            self.clock.resume()  # not waiting any more: time runs normally again

    def skip_to(self, moment: datetime) -> None:
        self.clock.freeze_at(moment)
        self.wake()

    def wake(self) -> None:
        # The loops sleep until their last computed due time, which the jump made stale.
        for runnable in self.loops():
            runnable.wake()


def _read_queues(conn: sqlite3.Connection, now: float) -> tuple[int, float | None, int]:
    runnable, due = conn.execute(
        "SELECT COUNT(*) FILTER (WHERE visible_at <= ?), MIN(visible_at) FILTER (WHERE visible_at > ?) "
        "FROM messages",
        (now, now),
    ).fetchone()
    written = _sequence(conn, "messages")
    # App queues (queueTrigger functions) share the file once a queue was used.
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'app_queue'").fetchone():
        queued, queue_due = conn.execute(
            "SELECT COUNT(*) FILTER (WHERE visible_at <= ?), MIN(visible_at) FILTER (WHERE visible_at > ?) "
            "FROM app_queue",
            (now, now),
        ).fetchone()
        runnable += queued
        due = queue_due if due is None else (due if queue_due is None else min(due, queue_due))
        written += _sequence(conn, "app_queue")
    return runnable, due, written


def _sequence(conn: sqlite3.Connection, table: str) -> int:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    return int(row[0]) if row else 0
