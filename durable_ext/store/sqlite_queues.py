"""App queues for the embedded store: a table in the hub's SQLite file, on the store's connection."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta, timezone

from .app_queues import AppQueueMessage, check_queue_name
from .base import WorkSignal
from .sqlite import SqliteTaskHubStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS app_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    inserted REAL NOT NULL,
    expires REAL NOT NULL,
    visible_at REAL NOT NULL,
    pop_receipt TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS app_queue_by_visibility ON app_queue (queue, visible_at, seq);
"""
TIME_TO_LIVE = timedelta(days=7)  # the Azure Queue default


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, timezone.utc)


class SqliteAppQueues:
    def __init__(self, store: SqliteTaskHubStore) -> None:
        self.store = store
        self._signals: dict[str, WorkSignal] = {}
        self._ready = False

    def signal(self, queue: str) -> WorkSignal:
        return self._signals.setdefault(queue, WorkSignal())

    async def _ensure(self) -> None:
        if not self._ready:
            await self.store.run(lambda conn: conn.executescript(_SCHEMA))  # DDL: outside group commit
            self._ready = True

    def _now(self) -> float:
        return self.store.clock.now().timestamp()

    async def put(self, queue: str, body: str, *, delay_seconds: float = 0.0) -> str:
        check_queue_name(queue)
        await self._ensure()
        message_id = str(uuid.uuid4())
        now = self._now()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO app_queue (queue, id, body, inserted, expires, visible_at, pop_receipt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    queue,
                    message_id,
                    body,
                    now,
                    now + TIME_TO_LIVE.total_seconds(),
                    now + delay_seconds,
                    "",
                ),
            )

        await self.store.write(write)
        self.signal(queue).notify()
        return message_id

    async def get(self, queue: str, *, visibility_timeout: float) -> AppQueueMessage | None:
        await self._ensure()
        now = self._now()

        def take(conn: sqlite3.Connection) -> AppQueueMessage | None:
            conn.execute("DELETE FROM app_queue WHERE queue = ? AND expires <= ?", (queue, now))
            row = conn.execute(
                "SELECT seq, id, body, dequeue_count, inserted, expires FROM app_queue "
                "WHERE queue = ? AND visible_at <= ? ORDER BY seq LIMIT 1",
                (queue, now),
            ).fetchone()
            if row is None:
                return None
            receipt = uuid.uuid4().hex
            hidden_until = now + max(visibility_timeout, 1.0)
            conn.execute(
                "UPDATE app_queue SET dequeue_count = dequeue_count + 1, visible_at = ?, pop_receipt = ? "
                "WHERE seq = ?",
                (hidden_until, receipt, row[0]),
            )
            return AppQueueMessage(
                queue, row[1], row[2], row[3] + 1, _dt(row[4]), _dt(row[5]), _dt(hidden_until), receipt
            )

        return await self.store.write(take)

    async def delete(self, message: AppQueueMessage) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM app_queue WHERE id = ? AND pop_receipt = ?",
                (message.id, message.pop_receipt),
            )

        await self.store.write(write)

    async def release(self, message: AppQueueMessage, *, delay_seconds: float) -> None:
        visible = self._now() + delay_seconds

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE app_queue SET visible_at = ? WHERE id = ? AND pop_receipt = ?",
                (visible, message.id, message.pop_receipt),
            )

        await self.store.write(write)
        self.signal(message.queue).notify()

    async def peek(self, queue: str, limit: int = 32) -> list[AppQueueMessage]:
        await self._ensure()

        def read(conn: sqlite3.Connection) -> list[AppQueueMessage]:
            rows = conn.execute(
                "SELECT id, body, dequeue_count, inserted, expires, visible_at FROM app_queue "
                "WHERE queue = ? ORDER BY seq LIMIT ?",
                (queue, limit),
            ).fetchall()
            return [
                AppQueueMessage(queue, r[0], r[1], r[2], _dt(r[3]), _dt(r[4]), _dt(r[5]), "") for r in rows
            ]

        return await self.store.run(read)
