"""The table partition manager (`{hub}Partitions`): which worker reads which control queue.

One row per control queue (PartitionKey "", RowKey = queue name). A worker claims free or expired
rows, renews its own, and balances by setting itself as NextOwner on a busier worker's row; that
owner drains the queue (waits for its episodes to finish) and releases it to the thief. Every write
is a Replace under the row's ETag, so two workers never both win a row. Lease times are wall-clock
(the hosts sharing a hub agree on it), not the store's injectable clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from .entities import datetime_column, service_datetime

log = logging.getLogger("durable_ext.store.azure.partitions")

_COLUMNS = ("CurrentOwner", "NextOwner", "OwnedSince", "LastRenewal", "ExpiresAt", "IsDraining")


@dataclass(frozen=True)
class LeaseTimings:
    """DT.AS defaults; tests shrink them to see a takeover in seconds."""

    acquire_interval: float = 10.0  # LeaseAcquireInterval: one pass of the loop
    lease_interval: float = 30.0  # LeaseInterval: a renewal holds the row this long
    claim_interval: float = 60.0  # a fresh claim holds the row this long
    busy_interval: float = 1.0  # pass interval while draining or waiting for a release
    drain_timeout: float = 60.0  # give up waiting for in-flight episodes and release anyway
    operation_timeout: float = 2.0  # PartitionTableOperationTimeout, per pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Row:
    queue: str
    owner: str | None
    next_owner: str | None
    expires_at: datetime | None
    draining: bool
    entity: dict[str, Any]
    etag: str

    @staticmethod
    def of(entity: Any) -> _Row:
        expires = entity.get("ExpiresAt")
        return _Row(
            queue=entity["RowKey"],
            owner=entity.get("CurrentOwner") or None,
            next_owner=entity.get("NextOwner") or None,
            expires_at=service_datetime(expires) if expires is not None else None,
            draining=bool(entity.get("IsDraining", False)),
            entity=dict(entity),
            etag=entity.metadata["etag"],
        )


class TablePartitionManager:
    def __init__(
        self,
        table: TableClient,
        queues: list[str],
        worker_id: str,
        *,
        timings: LeaseTimings,
        is_busy: Callable[[str], bool],
        on_released: Callable[[str], Awaitable[None]],
        on_claimed: Callable[[str], None] | None = None,
    ) -> None:
        self.table = table
        self.queues = queues
        self.worker_id = worker_id
        self.timings = timings
        self._is_busy = is_busy  # does this worker still run episodes of the queue?
        self._on_released = on_released  # stop reading a queue (drained, lost or released)
        self._on_claimed = on_claimed  # start reading a queue
        self._owned: dict[str, float] = {}  # queue -> monotonic time its lease runs out
        self._draining: dict[str, float] = {}  # queue -> monotonic time draining started
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._waiting_for_release = False

    # -- what the store reads -----------------------------------------------------------------------
    def readable(self) -> list[str]:
        """Owned control queues, leases not run out and not being handed over, in partition order."""
        now = time.monotonic()
        return [q for q in self.queues if self._owned.get(q, 0.0) > now and q not in self._draining]

    def owns(self, queue: str) -> bool:
        return queue in self.readable()

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self.table.create_table()

        async def ensure(queue: str) -> None:
            with contextlib.suppress(ResourceExistsError):
                await self.table.create_entity({"PartitionKey": "", "RowKey": queue, "IsDraining": False})

        await asyncio.gather(*(ensure(q) for q in self.queues))
        await self._pass_safely()
        self._task = asyncio.create_task(self._loop(), name=f"partitions:{self.worker_id}")

    async def stop(self, *, release: bool = True) -> None:
        """Stop the loop; with `release`, hand every owned row back (CurrentOwner = null)."""
        if self._task is not None:
            # The flag as well as the cancel: Python 3.11's `wait_for` drops a cancellation that
            # arrives as the pass it waits on finishes, and the loop would then go on forever.
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if release:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._release_all(), self.timings.operation_timeout * 5)
        for queue in list(self._owned):
            await self._drop(queue)

    async def _loop(self) -> None:
        while not self._stopping:
            busy = bool(self._draining) or self._waiting_for_release
            await asyncio.sleep(self.timings.busy_interval if busy else self.timings.acquire_interval)
            await self._pass_safely()

    async def _pass_safely(self) -> None:
        for _ in range(10):  # DT.AS retries a failed pass at once, up to 10 times in a row
            try:
                await asyncio.wait_for(self._pass(), self.timings.operation_timeout * 5)
                return
            except ResourceModifiedError:
                continue  # another worker wrote a row we read: read the table again
            except Exception as exc:  # the loop must survive storage hiccups
                log.warning("Partition manager pass of worker %s failed: %s", self.worker_id, exc)
                return

    # -- one pass ---------------------------------------------------------------------------------------
    async def _read(self) -> list[_Row]:
        rows = [_Row.of(e) async for e in self.table.query_entities("PartitionKey eq ''")]
        return [r for r in rows if r.queue in self.queues]

    async def _pass(self) -> None:
        me = self.worker_id
        now = _now()
        rows = await self._read()
        counts: Counter[str] = Counter()  # other workers' rows, a pending steal counted for the thief
        mine = 0
        self._waiting_for_release = False
        for row in rows:
            if row.queue in self._owned and row.owner != me:
                log.info("Worker %s lost %s to %s", me, row.queue, row.owner)
                await self._drop(row.queue)
            expired = row.expires_at is None or now >= row.expires_at
            if (row.owner is None and row.next_owner in (None, me)) or expired:
                await self._claim(row, now)
                mine += 1
            elif row.owner == me:
                mine += await self._keep_or_drain(row, now)
            elif row.next_owner == me:
                self._waiting_for_release = True
                mine += 1
            else:
                holder = row.next_owner or row.owner
                assert holder is not None
                if row.draining and row.next_owner is None:
                    await self._write(row, NextOwner=me)  # its owner is shutting down: take it next
                    self._waiting_for_release = True
                    mine += 1
                else:
                    counts[holder] += 1
        await self._balance(rows, counts, mine)

    async def _claim(self, row: _Row, now: datetime) -> None:
        await self._write(
            row,
            CurrentOwner=self.worker_id,
            NextOwner=None,
            OwnedSince=datetime_column(now),
            LastRenewal=datetime_column(now),
            ExpiresAt=datetime_column(now + timedelta(seconds=self.timings.claim_interval)),
            IsDraining=False,
        )
        self._owned[row.queue] = time.monotonic() + self.timings.claim_interval
        self._draining.pop(row.queue, None)
        log.info("Worker %s claimed %s", self.worker_id, row.queue)
        if self._on_claimed is not None:
            self._on_claimed(row.queue)

    async def _keep_or_drain(self, row: _Row, now: datetime) -> int:
        """Renew an owned row, or hand it to the worker stealing it once its episodes are done."""
        renewal = {
            "LastRenewal": datetime_column(now),
            "ExpiresAt": datetime_column(now + timedelta(seconds=self.timings.lease_interval)),
        }
        if row.next_owner is None:
            await self._write(row, **renewal)
            self._owned[row.queue] = time.monotonic() + self.timings.lease_interval
            return 1
        started = self._draining.setdefault(row.queue, time.monotonic())
        if row.queue not in self._owned:
            self._owned[row.queue] = time.monotonic() + self.timings.lease_interval
        await self._on_released(row.queue)  # stop reading it; what waits in memory goes back
        drained = not self._is_busy(row.queue)
        if drained or time.monotonic() - started > self.timings.drain_timeout:
            await self._write(row, CurrentOwner=None, IsDraining=False)
            await self._drop(row.queue)
            log.info("Worker %s handed %s to %s", self.worker_id, row.queue, row.next_owner)
            return 0
        await self._write(row, IsDraining=True, **renewal)
        self._owned[row.queue] = time.monotonic() + self.timings.lease_interval
        return 1

    async def _balance(self, rows: list[_Row], counts: Counter[str], mine: int) -> None:
        """Steal (set NextOwner) from workers above the fair share until this one has it."""
        target = len(self.queues) // (len(counts) + 1)
        if mine >= target:
            return
        victims = [
            r
            for r in rows
            if r.owner not in (None, self.worker_id) and r.next_owner is None and not r.draining
        ]
        for row in victims:
            if mine >= target:
                break
            assert row.owner is not None
            if counts[row.owner] > target:
                await self._write(row, NextOwner=self.worker_id)
                counts[row.owner] -= 1
                mine += 1
                self._waiting_for_release = True
                log.info("Worker %s asked %s for %s", self.worker_id, row.owner, row.queue)

    async def _write(self, row: _Row, **changes: Any) -> None:
        entity = {k: v for k, v in row.entity.items() if k in ("PartitionKey", "RowKey", *_COLUMNS)}
        entity.update(changes)
        result = await self.table.update_entity(
            entity, mode=UpdateMode.REPLACE, etag=row.etag, match_condition=MatchConditions.IfNotModified
        )
        row.etag = result.get("etag", row.etag)
        row.entity = entity

    async def _release_all(self) -> None:
        rows = await self._read()
        for row in rows:
            if row.owner == self.worker_id:
                with contextlib.suppress(ResourceModifiedError, ResourceNotFoundError):
                    await self._write(row, CurrentOwner=None, IsDraining=False)

    async def _drop(self, queue: str) -> None:
        self._owned.pop(queue, None)
        self._draining.pop(queue, None)
        await self._on_released(queue)
