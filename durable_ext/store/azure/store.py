"""`AzureStorageTaskHubStore`: the task hub in Azure Storage (or Azurite), laid out as
DurableTask.AzureStorage lays it out, so .NET tooling can read it and several hosts can share it.

Work flows as in DT.AS: control-queue messages are dequeued in batches from the partitions this
worker owns, wait in memory per instance, and go out as one work item per instance together with its
history. A commit sends the episode's messages first, then writes history (sentinel ETag) and the
Instances row, and only then deletes what it consumed: a crash anywhere leaves duplicates the
engine absorbs, never a lost message.

`next_visible_time()` only knows the delayed messages this store itself sent or put back (timers,
abandoned batches); delays other hosts wrote are found by polling, so it may return None while
such messages wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from ...clock import Clock, SystemClock
from ...config import StorageProviderSettings
from ...engine.history import EventType, HistoryEvent, parse_timestamp
from ...engine.messages import TaskMessage
from ...engine.orchestration import EpisodeCommit
from ...engine.status import InstanceState, RuntimeStatus
from ..base import (
    RUNNING_STATES,
    ActivityWorkItem,
    InstanceExistsError,
    InstancePage,
    InstanceQuery,
    OrchestrationWorkItem,
    WorkSignal,
)
from .account import normalize_connection_string
from .blobs import LargeMessageStore
from .envelope import Envelope
from .history_table import HistoryTable, LoadedHistory
from .instances_table import InstanceRow, InstancesTable
from .naming import MAX_PARTITIONS, HubNames, escape_key, validate_hub_name
from .partitions import LeaseTimings, TablePartitionManager
from .queues import HubQueues, Received, backoff_seconds, due_time
from .request_count import counted
from .sessions import ControlBuffer, LockedBatch, StartVerdict, start_verdict

log = logging.getLogger("durable_ext.store.azure")


@dataclass
class _ActivityLock:
    received: Received  # replaced when the lock is renewed


# Message ids sent by this process, remembered so that a purge can discard them when they surface.
_SENT_MEMORY = 50_000
# How long later messages of an abandoned instance wait for the abandoned ones to come back.
_HOLD_GRACE = timedelta(seconds=30)
_RECEIVE_ROUNDS_ON_PURGE = 8


@dataclass
class _OrchestrationLock:
    batch: LockedBatch  # the dequeued messages, first in the work item
    row: InstanceRow | None
    history: LoadedHistory
    completed_work: list[_ActivityLock] = field(default_factory=list)  # fast path: delete on commit


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class AzureStorageTaskHubStore:
    def __init__(
        self,
        connection_string: str,
        *,
        hub_name: str,
        settings: StorageProviderSettings,
        clock: Clock | None = None,
        worker_id: str | None = None,
        lease_timings: LeaseTimings | None = None,
        client_only: bool = False,
    ) -> None:
        """`client_only`: this process only starts, queries and messages instances of a hub other hosts
        run, so it takes no partition and dispatches nothing."""
        self.client_only = client_only
        self.hub_name = validate_hub_name(hub_name)
        if not 1 <= settings.partition_count <= MAX_PARTITIONS:
            raise ValueError(
                f"partitionCount is {settings.partition_count}; Azure Storage task hubs allow 1 to "
                f"{MAX_PARTITIONS} (host.json extensions.durableTask.storageProvider.partitionCount)."
            )
        self.settings = settings
        self.clock = clock or SystemClock()
        self.worker_id = worker_id or default_worker_id()
        self.names = HubNames(hub_name)
        self.control_signal = WorkSignal()
        self.work_signal = WorkSignal()
        connection = normalize_connection_string(connection_string)
        # Every request these clients (and the table, queue and blob clients they hand out) send is counted.
        self._tables = TableServiceClient.from_connection_string(connection, **counted("table"))
        self._queue_service = QueueServiceClient.from_connection_string(connection, **counted("queue"))
        self._blob_service = BlobServiceClient.from_connection_string(connection, **counted("blob"))
        self.blobs = LargeMessageStore(self._blob_service, self.names.large_message_container)
        self.queues = HubQueues(
            self._queue_service,
            self.names,
            settings.partition_count,
            self.blobs,
            self.clock,
            base64_bodies=settings.queue_client_message_encoding.lower() == "base64",
        )
        self.history = HistoryTable(self._tables.get_table_client(self.names.history_table), self.blobs)
        self.instances = InstancesTable(
            self._tables.get_table_client(self.names.instances_table), self.blobs, hub_name
        )
        timings = lease_timings or LeaseTimings()
        # What this worker dequeues stays hidden only about as long as its partition leases: if it
        # dies, its messages come back when its partitions move, not after the configured visibility
        # timeout (DT.AS: 5 minutes). While held, they are renewed (`_renew_locks`).
        self._control_hold = min(settings.control_queue_visibility_timeout, timings.lease_interval)
        self._work_hold = min(settings.work_item_queue_visibility_timeout, timings.lease_interval)
        self.partitions = TablePartitionManager(
            self._tables.get_table_client(self.names.partitions_table),
            self.queues.control_names,
            self.worker_id,
            timings=timings,
            is_busy=lambda queue: self._buffer.locked_in(queue) > 0,
            on_released=self._release_queue,
        )
        self._buffer = ControlBuffer()
        self._receive_lock = asyncio.Lock()
        self._sent: OrderedDict[str, str] = OrderedDict()  # message id -> instance id
        self._discard: set[str] = set()  # ids of messages of purged instances
        self._activities: dict[str, _ActivityLock] = {}  # locked work items (renewed, put back at close)
        # Renewing a lock changes its pop receipt: deletes and hides wait for a renewal in flight.
        self._settle = asyncio.Lock()
        self._renewer: asyncio.Task[None] | None = None
        self._opened = False

    # -- lifecycle --------------------------------------------------------------------------------------
    async def open(self) -> None:
        async def create_table(name: str) -> None:
            with contextlib.suppress(ResourceExistsError):
                await self._tables.create_table(name)

        await asyncio.gather(
            create_table(self.names.history_table),
            create_table(self.names.instances_table),
            self.queues.create(),
        )
        if not self.client_only:
            await self.partitions.start()
            self._renewer = asyncio.create_task(self._renew_locks(), name=f"renew:{self.worker_id}")
        self._opened = True

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        if self._opened:
            # Whatever is still locked or waiting goes straight back to its queue for the next owner.
            for batch in self._buffer.locked_batches():
                await asyncio.gather(*(self.queues.hide(r, 0) for r in batch.messages))
                self._buffer.unlock(batch)
            await asyncio.gather(*(self.queues.hide(w.received, 0) for w in self._activities.values()))
            self._activities.clear()
            if not self.client_only:
                await self.partitions.stop(release=True)
            self._opened = False
        await self.queues.close()
        await self.history.table.close()
        await self.instances.table.close()
        await self.partitions.table.close()
        await self._tables.close()
        await self.blobs.container.close()
        await self._queue_service.close()
        await self._blob_service.close()

    async def _renew_locks(self) -> None:
        """Keep what this worker holds invisible while it waits or runs (DTFx renews work items
        likewise), so that it is not handed out a second time. Only messages within two periods of
        showing again are renewed: most are consumed long before that."""
        period = max(0.5, min(self._control_hold, self._work_hold) / 3)
        while True:
            await asyncio.sleep(period)
            try:
                async with self._settle:
                    soon = time.monotonic() + 2 * period
                    activities = [a for a in self._activities.values() if a.received.hidden_until < soon]
                    expiring = [r for r in self._buffer.held() if r.hidden_until < soon]
                    renewed = await asyncio.gather(
                        *(self.queues.renew(a.received, self._work_hold) for a in activities),
                        *(self.queues.renew(r, self._control_hold) for r in expiring),
                    )
                    for activity, copy in zip(activities, renewed, strict=False):
                        if copy is not None:
                            activity.received = copy
                    for copy in renewed[len(activities) :]:
                        if copy is not None:
                            self._buffer.renewed(copy)
            except Exception as exc:  # keep renewing through storage hiccups
                log.warning("Renewing message locks failed: %s", exc)

    async def delete_task_hub(self) -> None:
        """Delete every table, queue and blob of the hub (DT.AS `DeleteAsync`)."""
        for name in (self.names.history_table, self.names.instances_table, self.names.partitions_table):
            with contextlib.suppress(ResourceNotFoundError):
                await self._tables.delete_table(name)
        await self.queues.delete()
        await self.blobs.delete_container()

    async def _release_queue(self, queue: str) -> None:
        """Stop reading `queue`: messages waiting in memory become visible to its next owner now."""
        waiting = self._buffer.take_queue(queue)
        await asyncio.gather(*(self.queues.hide(r, 0) for r in waiting))

    # -- sending ----------------------------------------------------------------------------------------
    def _remember(self, message_id: str, instance_id: str) -> None:
        self._sent[message_id] = instance_id
        while len(self._sent) > _SENT_MEMORY:
            self._sent.popitem(last=False)

    async def _delete(self, received: Received) -> None:
        """Delete a consumed message (and stop remembering it for purges)."""
        await self.queues.delete_message(received)
        self._sent.pop(received.message_id, None)
        self._discard.discard(received.message_id)

    async def _send(self, envelopes: Sequence[tuple[Envelope, datetime | None]]) -> None:
        if not envelopes:
            return
        sent = await self.queues.send_all(envelopes)
        control = work = False
        for item, (envelope, _) in zip(sent, envelopes, strict=True):
            assert envelope.message is not None
            self._remember(item.message_id, envelope.message.instance_id)
            work |= item.queue == self.queues.work_name
            control |= item.queue != self.queues.work_name
        if control:
            self.control_signal.notify()
        if work:
            self.work_signal.notify()

    async def send_messages(self, messages: Sequence[TaskMessage]) -> None:
        await self._send([(Envelope.new(m), m.visible_at) for m in messages])

    async def start_orchestration(
        self, instance: InstanceState, start: TaskMessage, *, overwrite_running: bool = False
    ) -> None:
        existing = await self.instances.get(instance.instance_id)
        if existing is not None and not overwrite_running and existing.state.runtime_status in RUNNING_STATES:
            raise InstanceExistsError(instance.instance_id, existing.state.runtime_status)
        # The message goes first, the row after it: a crash in between leaves a start the worker still
        # runs, never a Pending row with nothing to run it.
        envelope = Envelope.new(start)
        sent = await self.queues.send(envelope, start.visible_at)
        self._remember(sent.message_id, start.instance_id)
        input_url = None
        if sent.blob_name is not None and start.event.input == instance.input:
            input_url = self.blobs.url(sent.blob_name)
        written = await self.instances.create(
            instance,
            existing=existing,
            tags=start.event.tags,
            scheduled_start=start.visible_at,
            input_url=input_url,
        )
        if not written:
            log.warning(
                "Instance '%s' was changed by another client while it was started", instance.instance_id
            )
        self.control_signal.notify()

    # -- orchestration work items -----------------------------------------------------------------------
    async def _receive_control(self) -> None:
        readable = self.partitions.readable()
        self.queues.prune(readable)
        await self.queues.release_due(readable)
        if len(self._buffer) >= self.settings.control_queue_buffer_threshold:
            return
        batches = await asyncio.gather(
            *(
                self.queues.receive(
                    queue,
                    min(32, self.settings.control_queue_batch_size),
                    self._control_hold,
                )
                for queue in readable
            )
        )
        for received in (r for batch in batches for r in batch):
            await self._accept(received)

    async def _accept(self, received: Received) -> None:
        if received.message_id in self._discard:
            self._discard.discard(received.message_id)
            await self.queues.delete_message(received)
            return
        due = due_time(received.message.event)
        if due is not None and due > self.clock.now():
            # Arrived early: a delay longer than the queue's 7-day cap, split into hops.
            await self.queues.hide_until(received, due)
            return
        self._buffer.add(received)

    async def lock_next_orchestration(self) -> OrchestrationWorkItem | None:
        while True:
            async with self._receive_lock:
                await self._receive_control()
                batch = self._buffer.take_ready(datetime.now(timezone.utc))
            if batch is None:
                return None
            item = await self._work_item(batch, [], [])
            if item is not None:
                return item

    async def lock_orchestration_with(
        self, instance_id: str, messages: Sequence[TaskMessage], completed_work: ActivityWorkItem
    ) -> OrchestrationWorkItem | None:
        """Fast path for an activity result: lock its instance now, with the result in memory, so one
        commit records the result and the episode it wakes, then deletes the work item. None when the
        instance is busy or its partition belongs to another worker."""
        if self.client_only or self.queues.control_queue_of(instance_id) not in self.partitions.readable():
            return None
        async with self._receive_lock:
            batch = self._buffer.lock_instance(instance_id, datetime.now(timezone.utc))
        if batch is None:
            return None
        return await self._work_item(batch, list(messages), [completed_work.lock])

    async def _work_item(
        self, batch: LockedBatch, extra: list[TaskMessage], work: list[_ActivityLock]
    ) -> OrchestrationWorkItem | None:
        try:
            row, history = await asyncio.gather(
                self.instances.get(batch.instance_id), self.history.load(batch.instance_id)
            )
            async with self._settle:
                await self._screen_starts(batch, row)
        except BaseException:
            self._buffer.unlock(batch, keep=batch.messages)
            raise
        if not batch.messages and not extra:
            self._buffer.unlock(batch)
            return None
        return OrchestrationWorkItem(
            instance_id=batch.instance_id,
            instance=row.state if row else None,
            history=history.events,
            messages=[*(r.message for r in batch.messages), *extra],
            lock=_OrchestrationLock(batch, row, history, work),
        )

    async def _screen_starts(self, batch: LockedBatch, row: InstanceRow | None) -> None:
        keep: list[Received] = []
        for received in batch.messages:
            verdict = start_verdict(
                received.message.event, received.dequeue_count, row.state if row else None
            )
            if verdict == StartVerdict.KEEP:
                keep.append(received)
            elif verdict == StartVerdict.DEFER:
                await self.queues.hide(received, backoff_seconds(received.dequeue_count))
            else:
                log.info("Discarding a superseded start of '%s'", batch.instance_id)
                await self._delete(received)
        batch.messages[:] = keep

    async def complete_orchestration(self, item: OrchestrationWorkItem, commit: EpisodeCommit) -> None:
        lock: _OrchestrationLock = item.lock
        count = len(lock.batch.messages)
        dequeued, in_memory = item.messages[:count], item.messages[count:]
        deferred_ids = {id(m) for m in commit.deferred}
        deferred_in_memory = [m for m in in_memory if id(m) in deferred_ids]

        # 1. Outbound messages first (a crash after this only duplicates them).
        state = commit.instance
        history = [*([] if commit.replaces_history else item.history), *commit.history]
        episode = sum(1 for e in history if e.event_type == EventType.ORCHESTRATOR_STARTED)
        sender = (item.instance_id, state.execution_id if state else "")
        tags = next((e.tags for e in history if e.event_type == EventType.EXECUTION_STARTED), None)
        await self._send(
            [
                (
                    Envelope.new(
                        m,
                        episode=episode,
                        sender=sender,
                        orchestration_tags=(tags or {}) if _carries_context(m) else None,
                    ),
                    m.visible_at,
                )
                for m in commit.messages
            ]
        )
        # 2. History and its sentinel, then the Instances row.
        if state is not None:
            first = 0 if commit.replaces_history else len(item.history)
            stale = [k for k in lock.history.row_keys if int(k, 16) >= first + len(commit.history)]
            etag, blobs = await self.history.checkpoint(
                item.instance_id,
                state.execution_id,
                first,
                commit.history,
                etag=lock.history.etag,
                stale_row_keys=stale if commit.replaces_history else (),
                now=self.clock.now(),
            )
            lock.history.etag = etag
            started = next((e for e in commit.history if e.event_type == EventType.EXECUTION_STARTED), None)
            await self.instances.write(
                state,
                previous=lock.row,
                tags=started.tags if started else None,
                generation=started.generation if started else None,
                scheduled_start=_scheduled_start(started),
                history_blobs=blobs,
            )
        # 3. Only now delete what the episode consumed; results that came too early wait a little (an
        # in-memory one is queued first, as completing its activity would have).
        await self._queue_activity_results(item, deferred_in_memory, delay=1.0)
        async with self._settle:
            received = list(lock.batch.messages)  # current pop receipts
            await asyncio.gather(
                *(
                    self._delete(r)
                    for r, m in zip(received, dequeued, strict=True)
                    if id(m) not in deferred_ids
                ),
                *(self._delete(w.received) for w in lock.completed_work),
                *(
                    self.queues.hide(r, backoff_seconds(r.dequeue_count))
                    for r, m in zip(received, dequeued, strict=True)
                    if id(m) in deferred_ids
                ),
            )
            for work in lock.completed_work:
                self._activities.pop(work.received.message_id, None)
            self._buffer.unlock(lock.batch)
        self.control_signal.notify()  # messages that arrived during the episode wait in the buffer

    async def abandon_orchestration(self, item: OrchestrationWorkItem, delay_seconds: float) -> None:
        lock: _OrchestrationLock = item.lock
        # An activity result that came in memory is queued now, as completing the activity would.
        await self._queue_activity_results(item, item.messages[len(lock.batch.messages) :], delay_seconds)
        async with self._settle:
            await asyncio.gather(*(self._delete(w.received) for w in lock.completed_work))
            for work in lock.completed_work:
                self._activities.pop(work.received.message_id, None)
            hidden = await asyncio.gather(*(self.queues.hide(r, delay_seconds) for r in lock.batch.messages))
            # Later messages of the instance wait for these, so they never overtake them.
            until = datetime.now(timezone.utc) + timedelta(seconds=max(0.0, delay_seconds)) + _HOLD_GRACE
            self._buffer.hold(item.instance_id, {r.message_id for r in hidden if r is not None}, until)
            self._buffer.unlock(lock.batch)

    async def _queue_activity_results(
        self, item: OrchestrationWorkItem, messages: Sequence[TaskMessage], delay: float
    ) -> None:
        if not messages:
            return
        lock: _OrchestrationLock = item.lock
        episode = lock.completed_work[0].received.envelope.episode if lock.completed_work else None
        due = self.clock.now() + timedelta(seconds=delay) if delay > 0 else None
        await self._send(
            [
                (Envelope.new(m, episode=episode, sender=(m.instance_id, m.execution_id or "")), due)
                for m in messages
            ]
        )

    # -- activity work items ----------------------------------------------------------------------------
    async def lock_next_activity(self) -> ActivityWorkItem | None:
        if self.client_only:
            return None
        await self.queues.release_due([self.queues.work_name])
        while True:
            batch = await self.queues.receive(self.queues.work_name, 1, self._work_hold)
            if not batch:
                return None
            received = batch[0]
            if received.message_id in self._discard:
                self._discard.discard(received.message_id)
                await self.queues.delete_message(received)
                continue
            message = received.message
            lock = self._activities[received.message_id] = _ActivityLock(received)
            return ActivityWorkItem(
                instance_id=message.instance_id,
                execution_id=message.execution_id,
                event=message.event,
                dequeue_count=received.dequeue_count,
                lock=lock,
            )

    async def complete_activity(self, item: ActivityWorkItem, response: TaskMessage) -> None:
        lock: _ActivityLock = item.lock
        request = lock.received.envelope
        # The response first, then the delete: a crash between duplicates the result, never loses it.
        await self._send(
            [
                (
                    Envelope.new(
                        response,
                        episode=request.episode,
                        sender=(response.instance_id, response.execution_id or ""),
                    ),
                    response.visible_at,
                )
            ]
        )
        async with self._settle:
            await self._delete(lock.received)
            self._activities.pop(lock.received.message_id, None)

    async def abandon_activity(self, item: ActivityWorkItem, delay_seconds: float) -> None:
        lock: _ActivityLock = item.lock
        async with self._settle:
            self._activities.pop(lock.received.message_id, None)
            await self.queues.hide(lock.received, delay_seconds)

    async def next_visible_time(self) -> datetime | None:
        return self.queues.next_due()

    # -- queries ----------------------------------------------------------------------------------------
    async def get_instance(self, instance_id: str) -> InstanceState | None:
        row = await self.instances.get(instance_id)
        return row.state if row else None

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        return (await self.history.load(instance_id)).events

    async def query_instances(self, query: InstanceQuery) -> InstancePage:
        return await self.instances.query(query)

    async def purge_instance(self, instance_id: str) -> int:
        deleted = await self.instances.delete(instance_id)
        await self.history.delete_instance(instance_id)
        await self.blobs.delete_instance_blobs(instance_id, escape_key(instance_id))
        await self._discard_messages(instance_id)
        return 1 if deleted else 0

    async def purge_instances(
        self, created_from: datetime, created_to: datetime | None, statuses: frozenset[RuntimeStatus]
    ) -> int:
        purged = 0
        for instance_id in await self.instances.ids(created_from, created_to, statuses):
            purged += await self.purge_instance(instance_id)
        return purged

    async def _discard_messages(self, instance_id: str) -> None:
        """Drop the purged instance's pending messages that this host can reach.

        Queues cannot be searched by instance: visible messages of the instance's control queue (when
        this worker owns it) are drained into memory and deleted; messages this process sent that are
        still hidden (timers) or on the work-item queue are deleted when they next surface.
        """
        self._discard.update(mid for mid, iid in self._sent.items() if iid == instance_id)
        queue = self.queues.control_queue_of(instance_id)
        async with self._receive_lock:
            if queue in self.partitions.readable():
                for _ in range(_RECEIVE_ROUNDS_ON_PURGE):
                    got = await self.queues.receive(queue, 32, self._control_hold)
                    for received in got:
                        await self._accept(received)
                    if len(got) < 32:
                        break
            waiting = self._buffer.take_pending(instance_id)
        await asyncio.gather(*(self.queues.delete_message(r) for r in waiting))


def _carries_context(message: TaskMessage) -> bool:
    """DT.AS attaches the orchestration's tags to activity and sub-orchestration messages."""
    event = message.event
    return message.is_work_item or (
        event.event_type == EventType.EXECUTION_STARTED and event.parent_instance is not None
    )


def _scheduled_start(started: HistoryEvent | None) -> datetime | None:
    if started is None or not started.scheduled_start_time:
        return None
    try:
        return parse_timestamp(started.scheduled_start_time)
    except ValueError:
        return None
