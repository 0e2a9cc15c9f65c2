"""The embedded task hub: one SQLite file (WAL, fsync on commit), used by one host process at a time.

Locks on instances and work items live in memory: after a crash the restarted host owns the file
again and every message is simply visible. A lock file keeps a second host off the same hub.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import functools
import json
import sqlite3
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from ..clock import Clock, SystemClock
from ..engine.history import HistoryEvent, dumps_event, loads_event
from ..engine.messages import TaskMessage
from ..engine.orchestration import EpisodeCommit
from ..engine.status import InstanceState, RuntimeStatus
from ..threads import run_on, settle
from .base import (
    RUNNING_STATES,
    ActivityWorkItem,
    InstanceCheck,
    InstanceExistsError,
    InstancePage,
    InstanceQuery,
    OrchestrationWorkItem,
    WorkSignal,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_time REAL NOT NULL,
    last_updated_time REAL NOT NULL,
    completed_time REAL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    version TEXT NOT NULL DEFAULT '',
    parent_instance_id TEXT
);
CREATE INDEX IF NOT EXISTS instances_by_created ON instances (created_time, instance_id);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    visible_at REAL NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, visible_at, id);
CREATE INDEX IF NOT EXISTS messages_by_instance ON messages (instance_id, queue);
"""
CONTROL = "control"
HISTORY_CACHE_INSTANCES = 10_000
FAN_IN_HOLD_SECONDS = 0.05  # the most a result waits for its siblings before its episode runs anyway
CANDIDATES = 64  # instances looked at per lock, beyond those already locked
DIRECT_LOCKED_WORK = 16  # activity locks are taken on the caller's thread only below this many locked
WORK = "work"


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


class HubInUseError(Exception):
    pass


class SqliteTaskHubStore:
    def __init__(
        self,
        path: Path,
        *,
        hub_name: str = "TestHubName",
        clock: Clock | None = None,
        client_only: bool = False,
    ) -> None:
        """`client_only`: this process only starts, queries and messages instances (a client bound to a
        hub another host runs), so it takes no ownership lock and dispatches nothing."""
        self.path = path
        self.client_only = client_only
        self.hub_name = hub_name
        self.clock = clock or SystemClock()
        self.control_signal = WorkSignal()
        self.work_signal = WorkSignal()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._conn: sqlite3.Connection | None = None
        # Held by whoever uses the connection: the store thread, or the event loop's thread for a
        # short read it could start at once (see `_read`).
        self._conn_lock = threading.Lock()
        self._lock_file: Any = None
        self._locked_instances: set[str] = set()
        self._pending_writes: deque[
            tuple[Callable[[sqlite3.Connection], Any], Callable[[], None] | None, Any]
        ] = deque()
        self._flush_scheduled = False
        self._held_until: float | None = None  # when an instance held for fan-in becomes due
        # This store writes every delayed message and every work item of its hub (client-only processes
        # write only immediate control messages), so it can answer "when is the next timer" and "is there
        # work" from memory instead of asking SQLite each time a dispatcher goes idle.
        self._next_future: float | None = None
        self._work_hint = True
        self._work_recheck_at: float | None = None
        self._arrived_while_locked: set[str] = set()
        self._history_cache: OrderedDict[str, list[HistoryEvent]] = OrderedDict()
        self._locked_work: dict[int, str] = {}  # work item id -> its instance, while it runs
        self._locked_work_of: Counter[str] = Counter()  # instance id -> its work items locked

    # -- plumbing ---------------------------------------------------------------------------------
    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read `fn` on the store's connection thread (the app queues share the connection)."""
        return await self._run(fn)

    async def write(
        self,
        fn: Callable[[sqlite3.Connection], T],
        after_commit: Callable[[], None] | None = None,
        *,
        direct: bool = False,
    ) -> T:
        """Run `fn` atomically. Writes waiting at the same moment share one transaction and one fsync
        (group commit), each inside its own savepoint, so one failing write does not undo the others.
        `after_commit` runs once the data is durable, on the thread that committed.

        `direct`: commit on the caller's thread when no other write waits and the connection is free,
        saving the two thread hand-overs; for a write a client is waiting on, with nothing to share it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if direct and not self._pending_writes and self._conn_lock.acquire(blocking=False):
            try:
                _resolve(self._flush_batch([(fn, after_commit, future)]))
            finally:
                self._conn_lock.release()
            return await future
        self._pending_writes.append((fn, after_commit, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # Not run_in_executor: nothing awaits the flush itself (each write's future is resolved by
            # it), and wrapping it would cost a second wake-up of the loop per flush.
            self._executor.submit(self._flush, loop)
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flush_scheduled = False  # before draining: a write queued from now on schedules another flush
        batch = []
        while self._pending_writes:
            batch.append(self._pending_writes.popleft())
        if not batch:
            return
        try:
            with self._conn_lock:
                outcomes = self._flush_batch(batch)
        except BaseException as exc:  # noqa: BLE001 - e.g. BEGIN failed: every waiting writer hears it
            outcomes = [(future, None, exc) for _, _, future in batch]
        loop.call_soon_threadsafe(_resolve, outcomes)

    def _flush_batch(
        self, batch: list[tuple[Callable[[sqlite3.Connection], Any], Callable[[], None] | None, Any]]
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        conn = self._conn
        assert conn is not None, "store is not open"
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        for fn, _, future in batch:
            conn.execute("SAVEPOINT w")
            try:
                outcomes.append((future, fn(conn), None))
            except BaseException as exc:  # noqa: BLE001 - handed to that write's caller
                conn.execute("ROLLBACK TO w")
                outcomes.append((future, None, exc))
            conn.execute("RELEASE w")
        try:
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001
            conn.execute("ROLLBACK")
            outcomes = [(future, None, exc) for future, _, _ in outcomes]
        for (_, after_commit, _), (_, _, error) in zip(batch, outcomes, strict=True):
            if after_commit is not None and error is None:
                after_commit()
        return outcomes

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await run_on(self._executor, functools.partial(self._call, fn))

    async def _read(self, fn: Callable[[sqlite3.Connection], T], *, polled: bool = True) -> T:
        """A short read (or a lock taken by reading): done on the caller's thread when the connection
        is free this instant, since handing it to the store thread and back costs more than the query
        (~0.1 ms of thread wake-ups here); otherwise queued like any other call. Either way it holds
        the connection alone, so the in-memory lock bookkeeping stays serialised with every write."""
        if self._conn_lock.acquire(blocking=False):
            try:
                assert self._conn is not None, "store is not open"
                result = fn(self._conn)
            finally:
                self._conn_lock.release()
            if polled:
                # Still a suspension point, as the hop was: a caller polling in a loop must not starve
                # the other tasks of the event loop.
                await asyncio.sleep(0)
            return result
        return await self._run(fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._conn_lock:
            assert self._conn is not None, "store is not open"
            return fn(self._conn)

    def _now(self) -> float:
        return _epoch(self.clock.now())

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.client_only:
            self._take_ownership()

        def connect() -> None:
            # Used from the event loop's thread too, never at the same time (`_conn_lock`).
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # every commit reaches the disk: kill -9 loses nothing
            conn.executescript(_SCHEMA)
            self._conn = conn
            self._next_future = _earliest_future(conn, self._now())

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    def _take_ownership(self) -> None:
        lock_path = self.path.with_suffix(self.path.suffix + ".lock")
        handle = open(lock_path, "w")  # noqa: SIM115 - held for the store's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise HubInUseError(
                f"The embedded task hub {self.path} is in use by another host process. Stop that host, or "
                "give this one another hub name (host.json extensions.durableTask.hubName)."
            ) from None
        self._lock_file = handle

    async def close(self) -> None:
        if self._conn is None and self._lock_file is None:
            return  # already closed

        def disconnect() -> None:
            with self._conn_lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- writing messages ---------------------------------------------------------------------------
    def _insert_messages(
        self, conn: sqlite3.Connection, messages: Sequence[TaskMessage], visible_from: float | None = None
    ) -> tuple[bool, bool]:
        now = self._now() if visible_from is None else visible_from
        rows = []
        control = work = False
        for m in messages:
            queue = WORK if m.is_work_item else CONTROL
            control |= queue == CONTROL
            work |= queue == WORK
            visible = _epoch(m.visible_at) if m.visible_at is not None else now
            self._note_future(visible)
            if queue == CONTROL and m.instance_id in self._locked_instances:
                self._arrived_while_locked.add(m.instance_id)
            rows.append((queue, m.instance_id, m.execution_id, visible, dumps_event(m.event)))
        conn.executemany(
            "INSERT INTO messages (queue, instance_id, execution_id, visible_at, event) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        if work:
            self._work_hint = True
        return control, work

    def _note_future(self, visible_at: float) -> None:
        if visible_at > self._now() and (self._next_future is None or visible_at < self._next_future):
            self._next_future = visible_at

    def _signal(self, control: bool, work: bool) -> None:
        if control:
            self.control_signal.notify()
        if work:
            self.work_signal.notify()

    async def send_messages(self, messages: Sequence[TaskMessage]) -> None:
        def write(conn: sqlite3.Connection) -> tuple[bool, bool]:
            return self._insert_messages(conn, messages)

        self._signal(*await self.write(write))

    async def start_orchestration(
        self, instance: InstanceState, start: TaskMessage, *, overwrite_running: bool = False
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT status FROM instances WHERE instance_id = ?", (instance.instance_id,)
            ).fetchone()
            if row is not None and not overwrite_running and RuntimeStatus(row[0]) in RUNNING_STATES:
                raise InstanceExistsError(instance.instance_id, RuntimeStatus(row[0]))
            _upsert_instance(conn, instance)
            self._insert_messages(conn, [start])

        await self.write(write)
        self.control_signal.notify()

    # -- orchestration work items ------------------------------------------------------------------
    async def lock_next_orchestration(self) -> OrchestrationWorkItem | None:
        def take(conn: sqlite3.Connection) -> OrchestrationWorkItem | None:
            now = self._now()
            candidates = conn.execute(
                "SELECT instance_id, MIN(visible_at) FROM messages WHERE queue = ? AND visible_at <= ? "
                "GROUP BY instance_id ORDER BY MIN(id) LIMIT ?",
                (CONTROL, now, len(self._locked_instances) + CANDIDATES),
            ).fetchall()
            instance_id = None
            self._held_until = None
            for candidate, oldest in candidates:
                if candidate in self._locked_instances:
                    continue
                # Fan-in: while the instance's activities still run, let their results gather for a
                # moment so one episode (one replay of the whole history) takes many of them.
                if now - oldest < FAN_IN_HOLD_SECONDS and self._has_other_work(conn, candidate):
                    until = oldest + FAN_IN_HOLD_SECONDS
                    self._held_until = until if self._held_until is None else min(self._held_until, until)
                    continue
                instance_id = candidate
                break
            if instance_id is None:
                return None
            rows = conn.execute(
                "SELECT id, execution_id, event FROM messages "
                "WHERE instance_id = ? AND queue = ? AND visible_at <= ? ORDER BY id",
                (instance_id, CONTROL, now),
            ).fetchall()
            item = self._work_item(conn, instance_id, rows, [], [])
            self._locked_instances.add(instance_id)
            return item

        # On the store thread: its query groups every visible control message, which a fan-in of
        # thousands of results makes too long to hold the event loop for.
        return await self._run(take)

    def _work_item(
        self,
        conn: sqlite3.Connection,
        instance_id: str,
        rows: list[Any],
        extra: Sequence[TaskMessage],
        completed_work: list[ActivityWorkItem],
        instance: InstanceState | None = None,
    ) -> OrchestrationWorkItem:
        messages = [TaskMessage(instance_id, loads_event(r[2]), execution_id=r[1]) for r in rows]
        return OrchestrationWorkItem(
            instance_id=instance_id,
            instance=instance or _read_instance(conn, instance_id),
            history=self._cached_history(conn, instance_id),
            messages=[*messages, *extra],
            lock=_EpisodeLock([r[0] for r in rows] + [None] * len(extra), [w.lock for w in completed_work]),
        )

    def _lock_with(
        self,
        conn: sqlite3.Connection,
        instance_id: str,
        extra: Sequence[TaskMessage],
        completed_work: list[ActivityWorkItem],
        instance: InstanceState | None = None,
    ) -> OrchestrationWorkItem:
        """Lock an idle instance with in-memory messages after the ones already queued for it."""
        rows = conn.execute(
            "SELECT id, execution_id, event FROM messages "
            "WHERE instance_id = ? AND queue = ? AND visible_at <= ? ORDER BY id",
            (instance_id, CONTROL, self._now()),
        ).fetchall()
        item = self._work_item(conn, instance_id, rows, extra, completed_work, instance)
        self._locked_instances.add(instance_id)  # once nothing can fail: a failed read locks nothing
        return item

    async def lock_orchestration_with(
        self, instance_id: str, messages: Sequence[TaskMessage], completed_work: ActivityWorkItem
    ) -> OrchestrationWorkItem | None:
        """Fast path for an activity result: lock its instance now, with the result in memory, so one
        commit records the result, the episode it wakes and the work item's deletion. None when the
        instance is busy (the caller then completes the activity the ordinary way)."""

        if self._locked_work_of[instance_id] > 1:
            # Others of its activities still run here (a fan-out): their results gather for one episode.
            # Known from memory, this needs no trip to the store (it is busy writing their results).
            return None

        def take(conn: sqlite3.Connection) -> OrchestrationWorkItem | None:
            # Checked and taken on the store thread, like every other lock, so no two can interleave.
            if instance_id in self._locked_instances or self._has_other_work(
                conn, instance_id, completed_work.lock
            ):
                return None  # busy, or a fan-out still running: its results gather for one episode
            return self._lock_with(conn, instance_id, messages, [completed_work])

        return await self._read(take, polled=False)  # once per activity result, never in a loop

    async def lock_orchestration_for(
        self, message: TaskMessage, check: InstanceCheck
    ) -> OrchestrationWorkItem | None:
        """Fast path for a client's message (a raised event): one store call checks the instance and
        locks it with the message in memory, and the episode's commit is the message's only write."""
        instance_id = message.instance_id

        def take(conn: sqlite3.Connection) -> OrchestrationWorkItem | None:
            if instance_id in self._locked_instances:
                return None
            instance = _read_instance(conn, instance_id)
            check(instance)  # raises to refuse, before anything is locked
            item = self._lock_with(conn, instance_id, [message], [], instance)
            item.lock = replace(item.lock, client_waits=True)
            return item

        return await self._read(take, polled=False)  # once per client request, never in a loop

    def _has_other_work(
        self, conn: sqlite3.Connection, instance_id: str, except_id: int | None = None
    ) -> bool:
        """Activities of this instance still queued or running (a fan-out in progress)."""
        row = conn.execute(
            "SELECT 1 FROM messages WHERE instance_id = ? AND queue = ? AND id != ? LIMIT 1",
            (instance_id, WORK, -1 if except_id is None else except_id),
        ).fetchone()
        return row is not None

    def _unlock_work(self, work_ids: Sequence[int]) -> None:
        for work_id in work_ids:
            instance_id = self._locked_work.pop(work_id, None)
            if instance_id is not None:
                self._locked_work_of[instance_id] -= 1
                if not self._locked_work_of[instance_id]:
                    del self._locked_work_of[instance_id]

    def _cached_history(self, conn: sqlite3.Connection, instance_id: str) -> list[HistoryEvent]:
        """This process alone writes the hub, so the history it committed last is still current: keep the
        decoded events of recently active instances instead of reading and decoding every row per episode.
        (Runs on the store's thread, like every other use of the cache.)"""
        cached = self._history_cache.get(instance_id)
        if cached is None:
            cached = _read_history(conn, instance_id)
            self._remember_history(instance_id, cached)
        else:
            self._history_cache.move_to_end(instance_id)
        # Handed out as is: an episode never changes the list it is given (it builds new ones), and
        # the cache only grows it once that episode has committed (`complete_orchestration`).
        return cached

    def _remember_history(self, instance_id: str, events: list[HistoryEvent]) -> None:
        self._history_cache[instance_id] = events
        while len(self._history_cache) > HISTORY_CACHE_INSTANCES:
            self._history_cache.popitem(last=False)

    async def complete_orchestration(self, item: OrchestrationWorkItem, commit: EpisodeCommit) -> None:
        lock: _EpisodeLock = item.lock
        deferred = {id(m) for m in commit.deferred}
        pairs = list(zip(lock.message_ids, item.messages, strict=True))
        deferred_ids = [mid for mid, m in pairs if id(m) in deferred and mid is not None]
        deferred_new = [m for mid, m in pairs if id(m) in deferred and mid is None]
        consumed_ids = [mid for mid, m in pairs if id(m) not in deferred and mid is not None]

        def write(conn: sqlite3.Connection) -> tuple[bool, bool]:
            conn.executemany(
                "DELETE FROM messages WHERE id = ?", [(mid,) for mid in [*consumed_ids, *lock.work_ids]]
            )
            if deferred_new:  # in-memory messages not applicable yet: store them, visible shortly
                self._insert_messages(conn, deferred_new, visible_from=self._now() + 1.0)
            # Not yet applicable (e.g. a result racing ahead of its schedule): retry shortly.
            conn.executemany(
                "UPDATE messages SET visible_at = ?, dequeue_count = dequeue_count + 1 WHERE id = ?",
                [(self._now() + 1.0, mid) for mid in deferred_ids],
            )
            if deferred_ids:
                self._note_future(self._now() + 1.0)
            if commit.instance is not None:
                _upsert_instance(conn, commit.instance)
                start = 0 if commit.replaces_history else len(item.history)
                if commit.replaces_history:
                    conn.execute("DELETE FROM history WHERE instance_id = ?", (item.instance_id,))
                conn.executemany(
                    "INSERT INTO history (instance_id, seq, execution_id, event) VALUES (?, ?, ?, ?)",
                    [
                        (item.instance_id, start + i, commit.instance.execution_id, dumps_event(e))
                        for i, e in enumerate(commit.history)
                    ],
                )
            return self._insert_messages(conn, commit.messages)

        def remember() -> None:  # only once durable: a rolled-back episode leaves the cache as it was
            if commit.instance is None:
                return
            cached = self._history_cache.get(item.instance_id)
            if cached is item.history and not commit.replaces_history:
                cached.extend(commit.history)  # in place: a copy per episode is O(history) each time
                self._history_cache.move_to_end(item.instance_id)
            else:
                base = [] if commit.replaces_history else item.history
                self._remember_history(item.instance_id, [*base, *commit.history])

        try:
            # Commit at once on this thread (when the connection is free) if a client's request waits on
            # it, or if nothing else is in flight to share the fsync with: a serial chain then saves two
            # thread hand-overs per step (~10% of its CPU per step in A/B runs).
            alone = len(self._locked_instances) == 1 and len(self._locked_work) == len(lock.work_ids)
            signals = await self.write(write, after_commit=remember, direct=lock.client_waits or alone)
        finally:
            self._locked_instances.discard(item.instance_id)
            self._unlock_work(lock.work_ids)
        self._signal(*signals)
        if item.instance_id in self._arrived_while_locked:  # they were passed over while it was locked
            self._arrived_while_locked.discard(item.instance_id)
            self.control_signal.notify()

    async def abandon_orchestration(self, item: OrchestrationWorkItem, delay_seconds: float) -> None:
        lock: _EpisodeLock = item.lock
        ids = [mid for mid in lock.message_ids if mid is not None]
        in_memory = [m for mid, m in zip(lock.message_ids, item.messages, strict=True) if mid is None]

        def write(conn: sqlite3.Connection) -> None:
            now = self._now()
            # An activity result that came in memory is stored now, as completing the activity would.
            self._insert_messages(conn, in_memory, visible_from=now + delay_seconds)
            conn.executemany("DELETE FROM messages WHERE id = ?", [(wid,) for wid in lock.work_ids])
            conn.executemany(
                "UPDATE messages SET visible_at = ?, dequeue_count = dequeue_count + 1 WHERE id = ?",
                [(now + delay_seconds, mid) for mid in ids],
            )
            self._note_future(now + delay_seconds)
            # Messages that arrived during the episode wait too, so they cannot overtake the batch.
            conn.execute(
                "UPDATE messages SET visible_at = ? WHERE instance_id = ? AND queue = ? AND visible_at <= ?",
                (now + delay_seconds, item.instance_id, CONTROL, now),
            )

        try:
            await self.write(write)
        finally:
            self._locked_instances.discard(item.instance_id)
            self._unlock_work(lock.work_ids)

    # -- activity work items -------------------------------------------------------------------------
    async def lock_next_activity(self) -> ActivityWorkItem | None:
        items = await self.lock_next_activities(1)
        return items[0] if items else None

    async def lock_next_activities(self, limit: int) -> list[ActivityWorkItem]:
        recheck = self._work_recheck_at
        if not self._work_hint and (recheck is None or self._now() < recheck):
            return []  # nothing was queued or became visible since the last look found nothing

        def take(conn: sqlite3.Connection) -> list[ActivityWorkItem]:
            now = self._now()
            rows = conn.execute(
                "SELECT id, instance_id, execution_id, event, dequeue_count FROM messages "
                "WHERE queue = ? AND visible_at <= ? ORDER BY id LIMIT ?",
                (WORK, now, len(self._locked_work) + limit),
            ).fetchall()
            free = [r for r in rows if r[0] not in self._locked_work][:limit]
            if len(free) < limit and len(rows) < len(self._locked_work) + limit:
                # The query saw every visible work item and all are locked now: until one is queued,
                # abandoned or comes due, the next look is answered without asking SQLite.
                self._work_hint = False
                later = conn.execute(
                    "SELECT MIN(visible_at) FROM messages WHERE queue = ? AND visible_at > ?", (WORK, now)
                ).fetchone()
                self._work_recheck_at = later[0] if later else None
            if not free:
                return []
            for row in free:
                self._locked_work[row[0]] = row[1]
                self._locked_work_of[row[1]] += 1
            return [
                ActivityWorkItem(
                    instance_id=row[1],
                    execution_id=row[2],
                    event=loads_event(row[3]),
                    dequeue_count=row[4] + 1,
                    lock=row[0],
                )
                for row in free
            ]

        # Directly only while few are locked: the query reads past every locked one first.
        return await (self._read(take) if len(self._locked_work) < DIRECT_LOCKED_WORK else self._run(take))

    async def complete_activity(self, item: ActivityWorkItem, response: TaskMessage) -> None:
        def write(conn: sqlite3.Connection) -> tuple[bool, bool]:
            conn.execute("DELETE FROM messages WHERE id = ?", (item.lock,))
            return self._insert_messages(conn, [response])

        try:
            signals = await self.write(write)
        finally:
            self._unlock_work([item.lock])
        self._signal(*signals)

    async def abandon_activity(self, item: ActivityWorkItem, delay_seconds: float) -> None:
        def write(conn: sqlite3.Connection) -> None:
            visible = self._now() + delay_seconds
            conn.execute(
                "UPDATE messages SET visible_at = ?, dequeue_count = dequeue_count + 1 WHERE id = ?",
                (visible, item.lock),
            )
            self._note_future(visible)
            self._work_recheck_at = (
                visible if self._work_recheck_at is None else min(self._work_recheck_at, visible)
            )

        try:
            await self.write(write)
        finally:
            self._unlock_work([item.lock])

    async def next_visible_time(self) -> datetime | None:
        if self._next_future is not None and self._next_future <= self._now():
            # That one is due now: find the next from the table (once per timer, not per idle loop).
            self._next_future = await self._read(lambda conn: _earliest_future(conn, self._now()))
        times = [t for t in (self._next_future, self._held_until) if t is not None]
        return _from_epoch(min(times)) if times else None

    # -- queries -------------------------------------------------------------------------------------
    async def get_instance(self, instance_id: str) -> InstanceState | None:
        return await self._read(lambda conn: _read_instance(conn, instance_id))

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        return await self._run(lambda conn: _read_history(conn, instance_id))

    async def query_instances(self, query: InstanceQuery) -> InstancePage:
        def read(conn: sqlite3.Connection) -> InstancePage:
            clauses, params = _filters(query.created_from, query.created_to, query.statuses)
            # Entity ids are '@name@key': the range ['@', 'A') holds exactly them, as in DT.AS.
            clauses.append(
                "(instance_id >= '@' AND instance_id < 'A')"
                if query.entities
                else "(instance_id < '@' OR instance_id >= 'A')"
            )
            if query.instance_id_prefix:
                clauses.append("instance_id >= ? AND instance_id < ?")
                params += [query.instance_id_prefix, query.instance_id_prefix + "\U0010ffff"]
            if query.continuation_token:
                after_time, after_id = _decode_token(query.continuation_token)
                clauses.append("(created_time > ? OR (created_time = ? AND instance_id > ?))")
                params += [after_time, after_time, after_id]
            where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
            rows = conn.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM instances {where} "
                "ORDER BY created_time, instance_id LIMIT ?",
                [*params, query.page_size + 1],
            ).fetchall()
            page = [_instance_from_row(r) for r in rows[: query.page_size]]
            token = None
            if len(rows) > query.page_size:
                last = rows[query.page_size - 1]
                token = _encode_token(last[4], last[0])
            return InstancePage(page, token)

        return await self._run(read)

    async def purge_instance(self, instance_id: str) -> int:
        def write(conn: sqlite3.Connection) -> int:
            self._history_cache.pop(instance_id, None)
            return _purge(conn, [instance_id])

        return await self.write(write)

    async def purge_instances(
        self, created_from: datetime, created_to: datetime | None, statuses: frozenset[RuntimeStatus]
    ) -> int:
        def write(conn: sqlite3.Connection) -> int:
            clauses, params = _filters(created_from, created_to, statuses)
            where = " AND ".join(clauses)
            ids = [r[0] for r in conn.execute(f"SELECT instance_id FROM instances WHERE {where}", params)]
            for instance_id in ids:
                self._history_cache.pop(instance_id, None)
            return _purge(conn, ids)

        return await self.write(write)


@dataclass(frozen=True)
class _EpisodeLock:
    message_ids: list[int | None]  # None: a message handed over in memory, not (yet) stored
    work_ids: list[int]  # activity work items this episode's commit also deletes
    client_waits: bool = False  # a client's message came in memory: its request waits for the commit


def _earliest_future(conn: sqlite3.Connection, now: float) -> float | None:
    row = conn.execute("SELECT MIN(visible_at) FROM messages WHERE visible_at > ?", (now,)).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def _resolve(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in outcomes:
        settle(future, value, error)


_INSTANCE_COLUMNS = (
    "instance_id, name, execution_id, status, created_time, last_updated_time, completed_time, "
    "input, output, custom_status, version, parent_instance_id"
)


def _instance_from_row(row: Sequence[Any]) -> InstanceState:
    created = _from_epoch(row[4])
    updated = _from_epoch(row[5])
    assert created is not None and updated is not None
    return InstanceState(
        instance_id=row[0],
        name=row[1],
        execution_id=row[2],
        runtime_status=RuntimeStatus(row[3]),
        created_time=created,
        last_updated_time=updated,
        completed_time=_from_epoch(row[6]),
        input=row[7],
        output=row[8],
        custom_status=row[9],
        version=row[10],
        parent_instance_id=row[11],
    )


def _read_instance(conn: sqlite3.Connection, instance_id: str) -> InstanceState | None:
    row = conn.execute(
        f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
    ).fetchone()
    return _instance_from_row(row) if row else None


def _read_history(conn: sqlite3.Connection, instance_id: str) -> list[HistoryEvent]:
    rows = conn.execute(
        "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
    ).fetchall()
    return [loads_event(r[0]) for r in rows]


def _upsert_instance(conn: sqlite3.Connection, s: InstanceState) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO instances ({_INSTANCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            s.instance_id,
            s.name,
            s.execution_id,
            s.runtime_status.value,
            _epoch(s.created_time),
            _epoch(s.last_updated_time),
            _epoch(s.completed_time) if s.completed_time else None,
            s.input,
            s.output,
            s.custom_status,
            s.version,
            s.parent_instance_id,
        ),
    )


def _filters(
    created_from: datetime | None, created_to: datetime | None, statuses: frozenset[RuntimeStatus]
) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if created_from is not None:
        clauses.append("created_time >= ?")
        params.append(_epoch(created_from))
    if created_to is not None:
        clauses.append("created_time <= ?")
        params.append(_epoch(created_to))
    if statuses:
        clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params += [s.value for s in statuses]
    return clauses, params


def _purge(conn: sqlite3.Connection, instance_ids: list[str]) -> int:
    deleted = 0
    for iid in instance_ids:
        deleted += conn.execute("DELETE FROM instances WHERE instance_id = ?", (iid,)).rowcount
        conn.execute("DELETE FROM history WHERE instance_id = ?", (iid,))
        conn.execute("DELETE FROM messages WHERE instance_id = ?", (iid,))
    return deleted


def _encode_token(created: float, instance_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created, instance_id]).encode()).decode()


def _decode_token(token: str) -> tuple[float, str]:
    try:
        created, instance_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return float(created), str(instance_id)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid continuation token {token!r}") from exc


def default_store_path(script_root: Path, hub_name: str) -> Path:
    """Where the embedded hub lives: `<script root>/.durable/<hub>.sqlite` (gitignored)."""
    return script_root / ".durable" / f"{hub_name}.sqlite"


__all__ = ["SqliteTaskHubStore", "HubInUseError", "default_store_path"]
