"""`AzureStorageTaskHubStore`: the task hub in Azure Storage (or Azurite), laid out as
DurableTask.AzureStorage lays it out, so .NET tooling can read it and several hosts can share it.

Work flows as in DT.AS: control-queue messages are dequeued in batches from the partitions this
worker owns, wait in memory per instance, and go out as one work item per instance together with its
history. A commit sends the episode's messages first, then writes history (sentinel ETag) and the
Instances row, and only then deletes what it consumed: a crash anywhere leaves duplicates the
engine absorbs, never a lost message.

Fewer requests than DT.AS for the same guarantees, because this worker owns what it runs:
- the history and row it last wrote for an instance are kept (`history_cache`), not read back;
- an activity an episode schedules goes on the work-item queue already hidden for this worker
  (`work_items`), which runs it without receiving it; its result, when this worker owns the
  instance's partition, waits in memory with the work item still locked, and the episode that
  records it deletes the work item: no result message to send, receive and delete;
- each queue is polled on its own back-off (`polling`), not on every request for work.

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
from .entities import as_stored
from .envelope import Envelope
from .history_cache import CachedInstance, InstanceCache
from .history_table import HistoryTable, LoadedHistory
from .http_environment import environment_configures_http
from .instances_table import InstanceRow, InstancesTable
from .naming import MAX_PARTITIONS, HubNames, escape_key, row_key, validate_hub_name
from .partitions import LeaseTimings, TablePartitionManager
from .polling import PollSchedule
from .queues import HubQueues, Received, backoff_seconds, due_time
from .request_count import counted
from .sessions import ControlBuffer, LockedBatch, StartVerdict, start_verdict
from .work_items import LOCAL_BACKLOG, ActivityLock, LocalResult, WorkItems

log = logging.getLogger("durable_ext.store.azure")


# Message ids sent by this process, remembered so that a purge can discard them when they surface.
_SENT_MEMORY = 50_000
# How long later messages of an abandoned instance wait for the abandoned ones to come back.
_HOLD_GRACE = timedelta(seconds=30)
_RECEIVE_ROUNDS_ON_PURGE = 8
_WORK_RECEIVE_BATCH = 32  # the most one receive returns
# For this long after it last had work, a worker polls each queue at least every second (work other
# hosts send, messages a dead host held); idle, it backs off to maxQueuePollingInterval.
_ACTIVE_SECONDS = 5.0


@dataclass
class _OrchestrationLock:
    batch: LockedBatch  # the dequeued messages, first in the work item
    row: InstanceRow | None
    history: LoadedHistory
    # In-memory activity results, after the dequeued messages in the work item and in this order;
    # their work items are deleted on commit.
    results: list[LocalResult] = field(default_factory=list)


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
        use_env = environment_configures_http()
        self._tables = TableServiceClient.from_connection_string(
            connection, use_env_settings=use_env, **counted("table")
        )
        self._queue_service = QueueServiceClient.from_connection_string(
            connection, use_env_settings=use_env, **counted("queue")
        )
        self._blob_service = BlobServiceClient.from_connection_string(
            connection, use_env_settings=use_env, **counted("blob")
        )
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
            on_claimed=self._claimed_queue,
        )
        self._buffer = ControlBuffer()
        self._receive_lock = asyncio.Lock()
        self._work_receive_lock = asyncio.Lock()
        self._sent: OrderedDict[str, str] = OrderedDict()  # message id -> instance id
        self._discard: set[str] = set()  # ids of messages of purged instances
        self._work = WorkItems()  # held work items (renewed, put back at close)
        self._cache = InstanceCache()
        polling = settings.max_queue_polling_interval
        self._control_polls = PollSchedule(polling, self.control_signal.notify, self._active)
        self._work_polls = PollSchedule(polling, self.work_signal.notify, self._active)
        self._active_until = 0.0
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
            # Whatever is still locked or waiting goes straight back to its queue for the next owner;
            # results kept in memory are sent as messages first, as completing their activities would.
            for batch in self._buffer.locked_batches():
                await asyncio.gather(*(self.queues.hide(r, 0) for r in batch.messages))
                await self._flush_results(batch.results)
                self._buffer.unlock(batch)
            await self._flush_results(self._buffer.take_results())
            held = self._work.held()
            await asyncio.gather(*(self.queues.hide(w.received, 0) for w in held))
            for lock in held:
                self._work.release(lock)
            if not self.client_only:
                await self.partitions.stop(release=True)
            self._opened = False
        self._control_polls.close()
        self._work_polls.close()
        self._cache.clear()
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
                    activities = [a for a in self._work.held() if a.received.hidden_until < soon]
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
        """Stop reading `queue`: messages waiting in memory become visible to its next owner now, and
        results waiting in memory are sent to it; what was cached of its instances is forgotten."""
        self._cache.drop_queue(queue)
        self._control_polls.forget(queue)
        waiting, results = self._buffer.take_queue(queue)
        await asyncio.gather(*(self.queues.hide(r, 0) for r in waiting))
        await self._flush_results(results)

    def _claimed_queue(self, queue: str) -> None:
        """Start reading `queue`. If it comes from a worker that died, what that worker held (its control
        messages, and work items on the shared queue) shows again within one hold: poll actively
        until then, however idle this worker was."""
        self._control_polls.wake(queue)
        until = time.monotonic() + max(self._control_hold, self._work_hold) + _ACTIVE_SECONDS
        self._active_until = max(self._active_until, until)
        self.control_signal.notify()
        self.work_signal.notify()

    def _mark_active(self) -> None:
        self._active_until = max(self._active_until, time.monotonic() + _ACTIVE_SECONDS)

    def _active(self) -> bool:
        return time.monotonic() < self._active_until

    def _made_visible(self, queue: str) -> None:
        """This process made a message visible on `queue` (sent or put back): poll it soon."""
        (self._work_polls if queue == self.queues.work_name else self._control_polls).wake(queue)

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

    async def _send(
        self,
        envelopes: Sequence[tuple[Envelope, datetime | None]],
        *,
        hand_over: bool = False,
        activities: bool = True,
    ) -> list[ActivityLock]:
        """Send in order; with `hand_over`, what this worker will process itself goes in hidden for it
        (`_handover_holds`): control messages join the buffer at once, as if received; the work items
        are returned, held, for the caller to offer when they may run."""
        if not envelopes:
            return []
        messages = [e.message for e, _ in envelopes]
        holds = self._handover_holds(messages, activities=activities) if hand_over else []
        sent = await self.queues.send_all(envelopes, holds)
        control = work = False
        handed: list[ActivityLock] = []
        taken: list[Received] = []
        now = self.clock.now()
        for item, (envelope, visible_at) in zip(sent, envelopes, strict=True):
            assert envelope.message is not None
            self._remember(item.message_id, envelope.message.instance_id)
            if item.held is not None:
                if item.queue == self.queues.work_name:
                    handed.append(self._work.hold(item.held))
                else:
                    taken.append(item.held)
                    control = True
                continue
            if visible_at is None or visible_at <= now:
                self._made_visible(item.queue)
            work |= item.queue == self.queues.work_name
            control |= item.queue != self.queues.work_name
        await self._take_in(taken)
        if control:
            self.control_signal.notify()
        if work:
            self.work_signal.notify()
        return handed

    async def _take_in(self, held: Sequence[Received]) -> None:
        """Buffer control messages this worker holds; those of a partition it stopped reading while
        they were on their way go back to the queue for the next owner."""
        readable = set(self.partitions.readable())
        for received in held:
            if received.queue in readable:
                await self._accept(received)
        await asyncio.gather(*(self.queues.hide(r, 0) for r in held if r.queue not in readable))

    def _handover_holds(
        self, messages: Sequence[TaskMessage | None], *, activities: bool = True
    ) -> list[float]:
        """How long to hide each message for this worker: activities (if `activities`) while its
        backlog has room, and messages for partitions it reads; 0 for what goes to the queue for any
        reader."""
        if self.client_only:
            return []
        readable = set(self.partitions.readable())
        room = LOCAL_BACKLOG - self._work.backlog
        now = self.clock.now()
        holds: list[float] = []
        for message in messages:
            hold = 0.0
            if message is not None and (message.visible_at is None or message.visible_at <= now):
                if message.is_work_item:
                    hold = self._work_hold if activities and room > 0 else 0.0
                    room -= 1
                elif self.queues.control_queue_of(message.instance_id) in readable:
                    hold = self._control_hold
            holds.append(hold)
        return holds

    def _offer(self, handed: Sequence[ActivityLock]) -> None:
        for work in handed:
            self._work.offer(work)
        if handed:
            self.work_signal.notify()

    async def send_messages(self, messages: Sequence[TaskMessage]) -> None:
        # A client's activity messages (tests send them) go to the shared queue; messages for this
        # worker's partitions go in hidden for it.
        await self._send(
            [(Envelope.new(m), m.visible_at) for m in messages], hand_over=True, activities=False
        )

    async def start_orchestration(
        self, instance: InstanceState, start: TaskMessage, *, overwrite_running: bool = False
    ) -> None:
        existing = await self.instances.get(instance.instance_id)
        if existing is not None and not overwrite_running and existing.state.runtime_status in RUNNING_STATES:
            raise InstanceExistsError(instance.instance_id, existing.state.runtime_status)
        # The message goes first, the row after it: a crash in between leaves a start the worker still
        # runs, never a Pending row with nothing to run it. When this worker runs the instance, the
        # message goes in hidden for it and joins its buffer once the row is written.
        envelope = Envelope.new(start)
        hold = self._handover_holds([start])
        sent = await self.queues.send(envelope, start.visible_at, hold=hold[0] if hold else 0)
        self._remember(sent.message_id, start.instance_id)
        try:
            input_url = None
            if sent.blob_name is not None and start.event.input == instance.input:
                input_url = self.blobs.url(sent.blob_name)
            row = await self.instances.create(
                instance,
                existing=existing,
                tags=start.event.tags,
                scheduled_start=start.visible_at,
                input_url=input_url,
            )
            if row is None:
                log.warning(
                    "Instance '%s' was changed by another client while it was started", instance.instance_id
                )
            elif sent.held is not None and existing is None and sent.queue in self.partitions.readable():
                # A new instance: its row is the one just written, and it has no history yet (if it
                # has one after all, the first checkpoint finds its sentinel and reads it).
                entry = CachedInstance(sent.queue, LoadedHistory([]), row, start.event.execution_id)
                self._cache.put(instance.instance_id, entry)
        finally:
            if sent.held is not None:
                await self._take_in([sent.held])
            elif start.visible_at is None or start.visible_at <= self.clock.now():
                self._made_visible(sent.queue)
            self.control_signal.notify()

    # -- orchestration work items -----------------------------------------------------------------------
    async def _receive_control(self) -> None:
        readable = self.partitions.readable()
        self.queues.prune(readable)
        for queue in await self.queues.release_due(readable):
            self._made_visible(queue)
        if len(self._buffer) >= self.settings.control_queue_buffer_threshold:
            return
        due = self._control_polls.due(readable, ready_work=self._buffer.has_ready(datetime.now(timezone.utc)))
        batches = await asyncio.gather(
            *(
                self.queues.receive(
                    queue,
                    min(32, self.settings.control_queue_batch_size),
                    self._control_hold,
                )
                for queue in due
            )
        )
        for queue, batch in zip(due, batches, strict=True):
            self._control_polls.polled(queue, len(batch))
        readable = self.partitions.readable()  # a partition may have gone while receiving
        for received in (r for batch in batches for r in batch):
            if received.queue in readable:
                await self._accept(received)
            else:
                await self.queues.hide(received, 0)

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
            item = await self._work_item(batch, [])
            if item is not None:
                self._mark_active()
                return item

    async def lock_orchestration_with(
        self, instance_id: str, messages: Sequence[TaskMessage], completed_work: ActivityWorkItem
    ) -> OrchestrationWorkItem | None:
        """Fast path for an activity result: lock its instance now, with the result in memory, so one
        commit records the result and the episode it wakes, then deletes the work item. None when the
        instance is busy or its partition belongs to another worker."""
        queue = self.queues.control_queue_of(instance_id)
        if self.client_only or queue not in self.partitions.readable():
            return None
        async with self._receive_lock:
            batch = self._buffer.lock_instance(instance_id, datetime.now(timezone.utc), queue)
        if batch is None:
            return None
        now = datetime.now(timezone.utc)
        fast = [LocalResult(m, completed_work.lock, queue, now) for m in messages]
        try:
            return await self._work_item(batch, fast)
        except Exception as exc:  # reading the instance failed: complete the activity the usual way
            log.warning("Could not lock instance '%s' with its activity result: %s", instance_id, exc)
            return None

    def _cached(self, instance_id: str, messages: Sequence[TaskMessage]) -> CachedInstance | None:
        """The cached history and row, unless a start is among the messages that this process did not
        write the row of: a client writes the row of a start (and a purge by another host may have
        come before), so such a start reads both."""
        entry = self._cache.get(instance_id)
        if entry is None or entry.queue not in self.partitions.readable():
            return None
        starts = {m.event.execution_id for m in messages if m.event.event_type == EventType.EXECUTION_STARTED}
        if starts and (entry.started is None or starts != {entry.started}):
            return None
        return entry

    async def _work_item(self, batch: LockedBatch, fast: list[LocalResult]) -> OrchestrationWorkItem | None:
        results = [*batch.results, *fast]
        try:
            arrived = [*(r.message for r in batch.messages), *(r.message for r in results)]
            cached = self._cached(batch.instance_id, arrived)
            if cached is not None:
                row, history = cached.row, cached.history
            else:
                row, history = await asyncio.gather(
                    self.instances.get(batch.instance_id), self.history.load(batch.instance_id)
                )
            async with self._settle:
                await self._screen_starts(batch, row)
        except BaseException:
            self._buffer.unlock(batch, keep=batch.messages, keep_results=batch.results)
            raise
        if not batch.messages and not results:
            self._buffer.unlock(batch)
            return None
        return OrchestrationWorkItem(
            instance_id=batch.instance_id,
            instance=row.state if row else None,
            history=history.events,
            messages=[*(r.message for r in batch.messages), *(r.message for r in results)],
            lock=_OrchestrationLock(batch, row, history, results),
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
        try:
            await self._commit(item, commit)
        except BaseException:
            # Whatever was written, the table is now the truth (a conflict means another writer's).
            self._cache.drop(item.instance_id)
            raise
        self._mark_active()
        self.control_signal.notify()  # messages that arrived during the episode wait in the buffer

    async def _commit(self, item: OrchestrationWorkItem, commit: EpisodeCommit) -> None:
        lock: _OrchestrationLock = item.lock
        count = len(lock.batch.messages)
        dequeued = item.messages[:count]
        deferred_ids = {id(m) for m in commit.deferred}
        deferred_results = [r for r in lock.results if id(r.message) in deferred_ids]

        # 1. Outbound messages first (a crash after this only duplicates them). Activities go in hidden
        # for this worker (up to a backlog), to run once the episode is committed.
        state = commit.instance
        history = [*([] if commit.replaces_history else item.history), *commit.history]
        episode = sum(1 for e in history if e.event_type == EventType.ORCHESTRATOR_STARTED)
        sender = (item.instance_id, state.execution_id if state else "")
        tags = next((e.tags for e in history if e.event_type == EventType.EXECUTION_STARTED), None)
        handed: list[ActivityLock] = []
        try:
            handed = await self._send(
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
                ],
                hand_over=True,
            )
            # 2. History and its sentinel, then the Instances row.
            written: CachedInstance | None = None
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
                started = next(
                    (e for e in commit.history if e.event_type == EventType.EXECUTION_STARTED), None
                )
                row = await self.instances.write(
                    state,
                    previous=lock.row,
                    tags=started.tags if started else None,
                    generation=started.generation if started else None,
                    scheduled_start=_scheduled_start(started),
                    history_blobs=blobs,
                )
                written = self._written(item, commit, row)
            # 3. Only now delete what the episode consumed; results that came too early wait a little
            # (an in-memory one is queued first, as completing its activity would have).
            await self._queue_results(deferred_results, delay=1.0)
            async with self._settle:
                received = list(lock.batch.messages)  # current pop receipts
                works = {r.work.received.message_id: r.work for r in lock.results}
                await asyncio.gather(
                    *(
                        self._delete(r)
                        for r, m in zip(received, dequeued, strict=True)
                        if id(m) not in deferred_ids
                    ),
                    *(self._delete(w.received) for w in works.values()),
                    *(
                        self.queues.hide(r, backoff_seconds(r.dequeue_count))
                        for r, m in zip(received, dequeued, strict=True)
                        if id(m) in deferred_ids
                    ),
                )
                for work in works.values():
                    self._work.release(work)
                # Before the unlock: the instance's next work item may be locked as soon as it is.
                self._remember_instance(item, commit, written)
                self._buffer.unlock(lock.batch)
        finally:
            self._offer(handed)  # the activities run once the episode that scheduled them is in

    def _written(
        self, item: OrchestrationWorkItem, commit: EpisodeCommit, row: InstanceRow
    ) -> CachedInstance | None:
        """The instance as this commit left it in the tables; None when that is not known exactly."""
        lock: _OrchestrationLock = item.lock
        state = commit.instance
        assert state is not None
        if lock.history.etag is None:
            return None
        if commit.replaces_history:
            events = [as_stored(e) for e in commit.history]
            row_keys = [row_key(i) for i in range(len(commit.history))]
        else:
            if lock.history.execution_id not in (None, state.execution_id):
                return None
            events = [*item.history, *(as_stored(e) for e in commit.history)]
            written = {row_key(len(item.history) + i) for i in range(len(commit.history))}
            row_keys = sorted({*lock.history.row_keys, *written})
        history = LoadedHistory(events, state.execution_id, lock.history.etag, row_keys)
        return CachedInstance(self.queues.control_queue_of(item.instance_id), history, row)

    def _remember_instance(
        self, item: OrchestrationWorkItem, commit: EpisodeCommit, written: CachedInstance | None
    ) -> None:
        """Keep what the next episode of the instance would read, while this worker owns it."""
        lock: _OrchestrationLock = item.lock
        queue = self.queues.control_queue_of(item.instance_id)
        if commit.instance is None and lock.history.etag is not None:
            # Nothing written (every message dropped): what was read is still current.
            written = CachedInstance(queue, lock.history, lock.row)
        if (
            written is None
            or queue not in self.partitions.readable()
            or written.row is None
            or written.row.state.runtime_status.is_terminal
        ):
            self._cache.drop(item.instance_id)
            return
        self._cache.put(item.instance_id, written)

    async def abandon_orchestration(self, item: OrchestrationWorkItem, delay_seconds: float) -> None:
        lock: _OrchestrationLock = item.lock
        self._cache.drop(item.instance_id)
        # Activity results kept in memory are queued now, as completing their activities would.
        await self._queue_results(lock.results, delay_seconds)
        async with self._settle:
            works = {r.work.received.message_id: r.work for r in lock.results}
            await asyncio.gather(*(self._delete(w.received) for w in works.values()))
            for work in works.values():
                self._work.release(work)
            hidden = await asyncio.gather(*(self.queues.hide(r, delay_seconds) for r in lock.batch.messages))
            # Later messages of the instance wait for these, so they never overtake them.
            until = datetime.now(timezone.utc) + timedelta(seconds=max(0.0, delay_seconds)) + _HOLD_GRACE
            self._buffer.hold(item.instance_id, {r.message_id for r in hidden if r is not None}, until)
            self._buffer.unlock(lock.batch)
        if delay_seconds <= 0 and lock.batch.queue is not None:
            self._made_visible(lock.batch.queue)

    async def _queue_results(self, results: Sequence[LocalResult], delay: float) -> None:
        """Send in-memory activity results to their control queue (as the activity's completion would)."""
        if not results:
            return
        due = self.clock.now() + timedelta(seconds=delay) if delay > 0 else None
        await self._send(
            [
                (
                    Envelope.new(
                        r.message,
                        episode=r.work.received.envelope.episode,
                        sender=(r.message.instance_id, r.message.execution_id or ""),
                    ),
                    due,
                )
                for r in results
            ]
        )

    async def _flush_results(self, results: Sequence[LocalResult]) -> None:
        """Results this worker can no longer apply itself: sent as messages, then their work deleted."""
        if not results:
            return
        await self._queue_results(results, delay=0)
        async with self._settle:
            works = {r.work.received.message_id: r.work for r in results}
            await asyncio.gather(*(self._delete(w.received) for w in works.values()))
            for work in works.values():
                self._work.release(work)

    # -- activity work items ----------------------------------------------------------------------------
    async def lock_next_activity(self) -> ActivityWorkItem | None:
        items = await self.lock_next_activities(1)
        return items[0] if items else None

    async def lock_next_activities(self, limit: int) -> list[ActivityWorkItem]:
        """Up to `limit` work items: handed over by this worker's episodes, else received (up to 32 at
        once; what is not handed out yet waits here, locked and renewed)."""
        if self.client_only:
            return []
        items: list[ActivityWorkItem] = []
        received = False
        while len(items) < limit:
            lock = self._work.next_ready()
            if lock is None:
                if items or received or not await self._receive_work():
                    break
                received = True
                continue
            if lock.received.message_id in self._discard:
                self._discard.discard(lock.received.message_id)
                self._work.release(lock)
                await self.queues.delete_message(lock.received)
                continue
            message = lock.received.message
            items.append(
                ActivityWorkItem(
                    instance_id=message.instance_id,
                    execution_id=message.execution_id,
                    event=message.event,
                    dequeue_count=lock.received.dequeue_count,
                    lock=lock,
                )
            )
        if items:
            self._mark_active()
        return items

    async def _receive_work(self) -> bool:
        """Receive a batch of work items if the work-item queue is due a poll; True if any came."""
        work_queue = self.queues.work_name
        if await self.queues.release_due([work_queue]):
            self._made_visible(work_queue)
        async with self._work_receive_lock:
            if self._work.backlog:
                return True  # another caller received meanwhile
            if not self._work_polls.due([work_queue]):
                return False
            batch = await self.queues.receive(work_queue, _WORK_RECEIVE_BATCH, self._work_hold)
            self._work_polls.polled(work_queue, len(batch))
            for received in batch:
                self._work.offer(self._work.hold(received))
        return bool(batch)

    async def complete_activity(self, item: ActivityWorkItem, response: TaskMessage) -> None:
        lock: ActivityLock = item.lock
        queue = self.queues.control_queue_of(response.instance_id)
        if not self.client_only and queue in self.partitions.readable() and lock in self._work:
            # This worker runs the instance: the result waits in memory for its next episode, and
            # the work item stays locked until that episode commits it (then it is deleted).
            self._buffer.add_result(LocalResult(response, lock, queue, datetime.now(timezone.utc)))
            self._mark_active()
            self.control_signal.notify()
            return
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
            self._work.release(lock)

    async def abandon_activity(self, item: ActivityWorkItem, delay_seconds: float) -> None:
        lock: ActivityLock = item.lock
        async with self._settle:
            self._work.release(lock)
            await self.queues.hide(lock.received, delay_seconds)
        if delay_seconds <= 0:
            self._made_visible(self.queues.work_name)

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
        self._cache.drop(instance_id)
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
            waiting, results = self._buffer.take_pending(instance_id)
        await asyncio.gather(*(self.queues.delete_message(r) for r in waiting))
        async with self._settle:  # results of its activities have nowhere to go
            await asyncio.gather(*(self._delete(r.work.received) for r in results))
            for result in results:
                self._work.release(result.work)


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
