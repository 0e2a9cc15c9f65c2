"""The hub's queues: `{hublc}-control-NN` (instance messages, by partition) and `{hublc}-workitems`.

Delays ride on the queue's visibility timeout, which Azure caps at 7 days and counts in server
seconds. The store's clock may run differently (a test host skips time), so every message this
process delays is also noted here with its due time on that clock; `release_due` makes it visible
once the clock reaches it, and `next_due` tells the dispatcher when to look again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from ...clock import Clock
from ...engine.history import EventType, HistoryEvent, parse_timestamp
from ...engine.messages import TaskMessage
from .blobs import LargeMessageStore, exceeds_queue_limit, message_blob_name
from .envelope import Envelope, EnvelopeError, decode, encode, wrapper
from .naming import HubNames, partition_index

log = logging.getLogger("durable_ext.store.azure")

MAX_VISIBILITY_SECONDS = 7 * 24 * 3600
NEVER_EXPIRE = -1
# The server reports visibility times to the second (truncated): treat anything this close as hidden.
_SERVER_PRECISION = timedelta(seconds=1)
_PARALLEL_WORK_SENDS = 16


def backoff_seconds(dequeue_count: int) -> int:
    """DT.AS's abandon delay: 2^DequeueCount seconds, capped at 10 minutes."""
    return 600 if dequeue_count > 30 else min(2 ** max(dequeue_count, 0), 600)


def due_time(event: HistoryEvent) -> datetime | None:
    """When a delayed message is due, read from the event itself (so it survives any hop)."""
    text: str | None = None
    if event.event_type == EventType.TIMER_FIRED:
        text = event.fire_at
    elif event.event_type == EventType.EXECUTION_STARTED:
        text = event.scheduled_start_time
    elif event.event_type == EventType.EVENT_RAISED and (event.name or "").startswith("op@"):
        text = (event.name or "")[3:]
    if not text:
        return None
    try:
        return parse_timestamp(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Received:
    """One dequeued message and what deleting or re-hiding it needs."""

    queue: str
    message_id: str
    pop_receipt: str
    dequeue_count: int
    inserted_on: datetime
    envelope: Envelope
    # time.monotonic() when the server shows it again unless renewed (0: not held by this process)
    hidden_until: float = 0.0

    @property
    def message(self) -> TaskMessage:
        assert self.envelope.message is not None
        return self.envelope.message

    @property
    def order(self) -> tuple[datetime, int]:
        """DT.AS orders a batch by insertion time, then by the sender's sequence number."""
        return (self.inserted_on, self.envelope.sequence_number)


@dataclass
class _Delayed:
    queue: str
    message_id: str
    pop_receipt: str
    due: datetime  # on the store's clock
    server_visible: datetime  # on the server's clock


@dataclass(frozen=True)
class Sent:
    queue: str
    message_id: str
    blob_name: str | None
    held: Received | None = None  # sent hidden for this process to work on (see `send`'s `hold`)


class HubQueues:
    def __init__(
        self,
        service: QueueServiceClient,
        names: HubNames,
        partition_count: int,
        blobs: LargeMessageStore,
        clock: Clock,
        *,
        base64_bodies: bool = False,
    ) -> None:
        self.base64_bodies = base64_bodies  # QueueClientMessageEncoding=Base64, as DT.AS 1.x wrote
        self.names = names
        self.partition_count = partition_count
        self.blobs = blobs
        self.clock = clock
        self.control_names = names.control_queues(partition_count)
        self.work_name = names.work_item_queue
        self._clients: dict[str, QueueClient] = {
            name: service.get_queue_client(name) for name in (*self.control_names, self.work_name)
        }
        self._delayed: dict[str, _Delayed] = {}

    def control_queue_of(self, instance_id: str) -> str:
        return self.control_names[partition_index(instance_id, self.partition_count)]

    def queue_of(self, message: TaskMessage) -> str:
        return self.work_name if message.is_work_item else self.control_queue_of(message.instance_id)

    async def create(self) -> None:
        async def create_one(client: QueueClient) -> None:
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()

        await asyncio.gather(*(create_one(c) for c in self._clients.values()))

    async def delete(self) -> None:
        async def delete_one(client: QueueClient) -> None:
            with contextlib.suppress(ResourceNotFoundError):
                await client.delete_queue()

        await asyncio.gather(*(delete_one(c) for c in self._clients.values()))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clients.values()))

    # -- sending ----------------------------------------------------------------------------------
    def _delay_seconds(self, visible_at: datetime | None) -> int:
        if visible_at is None:
            return 0
        seconds = (visible_at - self.clock.now()).total_seconds()
        return min(max(0, math.ceil(seconds)), MAX_VISIBILITY_SECONDS)

    async def send(self, envelope: Envelope, visible_at: datetime | None = None, *, hold: float = 0) -> Sent:
        """`hold` > 0 (and no delay): the message goes in hidden for that long, and the pop receipt the
        server returns lets this process renew, delete or release it as if it had received it."""
        message = envelope.message
        assert message is not None
        queue = self.queue_of(message)
        text = encode(envelope)
        blob_name = None
        if exceeds_queue_limit(text):
            blob_name = message_blob_name(
                message.instance_id, envelope.activity_id, message.event.event_type.dtfx_name
            )
            await self.blobs.upload(blob_name, text)
            text = encode(wrapper(blob_name))
        if self.base64_bodies:
            text = base64.b64encode(text.encode("utf-8")).decode("ascii")
        delay = self._delay_seconds(visible_at)
        held_for = 0 if delay else min(max(0, math.ceil(hold)), MAX_VISIBILITY_SECONDS)
        asked = time.monotonic()
        sent = await self._clients[queue].send_message(
            text, visibility_timeout=(delay or held_for) or None, time_to_live=NEVER_EXPIRE
        )
        if delay and visible_at is not None:
            server_visible = sent.next_visible_on or datetime.now(timezone.utc)
            self._delayed[sent.id] = _Delayed(
                queue, sent.id, sent.pop_receipt or "", visible_at, server_visible
            )
        held = None
        if held_for and sent.pop_receipt:
            inserted = sent.inserted_on or datetime.now(timezone.utc)
            held = Received(queue, sent.id, sent.pop_receipt, 1, inserted, envelope, asked + held_for)
        return Sent(queue, sent.id, blob_name, held)

    async def send_all(
        self, envelopes: Sequence[tuple[Envelope, datetime | None]], holds: Sequence[float] = ()
    ) -> list[Sent]:
        """Send in order per control queue (the receiver orders by insertion time), queues in parallel;
        work items, which no reader orders, several at a time. `holds[i]`: `send`'s `hold`."""
        by_queue: dict[str, list[tuple[int, Envelope, datetime | None]]] = {}
        for index, (envelope, visible_at) in enumerate(envelopes):
            assert envelope.message is not None
            by_queue.setdefault(self.queue_of(envelope.message), []).append((index, envelope, visible_at))
        results: list[Sent | None] = [None] * len(envelopes)
        parallel = asyncio.Semaphore(_PARALLEL_WORK_SENDS)

        async def send_one(index: int, envelope: Envelope, visible_at: datetime | None) -> None:
            hold = holds[index] if index < len(holds) else 0
            results[index] = await self.send(envelope, visible_at, hold=hold)

        async def send_queue(queue: str, items: list[tuple[int, Envelope, datetime | None]]) -> None:
            if queue != self.work_name:
                for item in items:
                    await send_one(*item)
                return

            async def bounded(item: tuple[int, Envelope, datetime | None]) -> None:
                async with parallel:
                    await send_one(*item)

            await asyncio.gather(*(bounded(item) for item in items))

        await asyncio.gather(*(send_queue(queue, items) for queue, items in by_queue.items()))
        return [r for r in results if r is not None]

    # -- receiving --------------------------------------------------------------------------------
    async def receive(self, queue: str, count: int, visibility_timeout: float) -> list[Received]:
        client = self._clients[queue]
        seconds = max(1, math.ceil(visibility_timeout))
        asked = time.monotonic()
        pager = client.receive_messages(
            messages_per_page=count, max_messages=count, visibility_timeout=seconds
        )
        raw = [m async for m in pager]
        received = await asyncio.gather(*(self._decode(queue, m) for m in raw))
        return [replace(r, hidden_until=asked + seconds) for r in received if r is not None]

    async def _decode(self, queue: str, raw: object) -> Received | None:
        message_id: str = getattr(raw, "id")  # noqa: B009 - QueueMessage is untyped
        pop_receipt: str = getattr(raw, "pop_receipt")  # noqa: B009
        dequeue_count = int(getattr(raw, "dequeue_count", 1) or 1)
        self._delayed.pop(message_id, None)
        try:
            envelope = decode(getattr(raw, "content"))  # noqa: B009
            if envelope.compressed_blob_name:
                envelope = decode(await self.blobs.download(envelope.compressed_blob_name))
            if envelope.message is None:
                raise EnvelopeError("the envelope carries no TaskMessage")
        except (EnvelopeError, ResourceNotFoundError) as exc:
            # There is no poison queue: retry later with a growing delay, as DT.AS does.
            delay = backoff_seconds(dequeue_count)
            log.warning(
                "Unreadable message %s on queue %s (dequeue count %d): %s; retrying in %ds",
                message_id,
                queue,
                dequeue_count,
                exc,
                delay,
            )
            await self._update(queue, message_id, pop_receipt, delay)
            return None
        inserted = getattr(raw, "inserted_on", None) or datetime.now(timezone.utc)
        return Received(queue, message_id, pop_receipt, dequeue_count, inserted, envelope)

    # -- settling ---------------------------------------------------------------------------------
    async def delete_message(self, received: Received) -> None:
        try:
            await self._clients[received.queue].delete_message(received.message_id, received.pop_receipt)
        except (ResourceNotFoundError, HttpResponseError) as exc:
            # Gone already, or dequeued again elsewhere: DT.AS logs this and moves on.
            log.info(
                "Message %s on %s was not deleted: %s", received.message_id, received.queue, _reason(exc)
            )

    async def _update(
        self, queue: str, message_id: str, pop_receipt: str, seconds: int
    ) -> QueueMessage | None:
        try:
            updated = await self._clients[queue].update_message(
                message_id, pop_receipt=pop_receipt, visibility_timeout=seconds
            )
        except (ResourceNotFoundError, HttpResponseError) as exc:
            log.info("Message %s on %s was not updated: %s", message_id, queue, _reason(exc))
            return None
        return updated

    async def hide(self, received: Received, delay_seconds: float) -> Received | None:
        """Make a dequeued message visible again after `delay_seconds` (on the store's clock)."""
        due = self.clock.now() + timedelta(seconds=max(0.0, delay_seconds))
        seconds = min(max(0, math.ceil(delay_seconds)), MAX_VISIBILITY_SECONDS)
        updated = await self._update(received.queue, received.message_id, received.pop_receipt, seconds)
        if updated is None:
            return None
        receipt: str = getattr(updated, "pop_receipt")  # noqa: B009
        if seconds:
            server_visible = getattr(updated, "next_visible_on", None) or datetime.now(timezone.utc)
            self._delayed[received.message_id] = _Delayed(
                received.queue, received.message_id, receipt, due, server_visible
            )
        return replace(received, pop_receipt=receipt, hidden_until=0.0)

    async def renew(self, received: Received, seconds: float) -> Received | None:
        """Extend the lock of a message being worked on (no delay bookkeeping: it is not waiting)."""
        timeout = min(max(1, math.ceil(seconds)), MAX_VISIBILITY_SECONDS)
        asked = time.monotonic()
        updated = await self._update(received.queue, received.message_id, received.pop_receipt, timeout)
        if updated is None:
            return None
        receipt: str = getattr(updated, "pop_receipt")  # noqa: B009
        return replace(received, pop_receipt=receipt, hidden_until=asked + timeout)

    async def hide_until(self, received: Received, due: datetime) -> None:
        """Put back a message that arrived before it is due (a long timer split by the 7-day cap)."""
        seconds = max(0.0, (due - self.clock.now()).total_seconds())
        hidden = await self.hide(received, seconds)
        if hidden is not None and hidden.message_id in self._delayed:
            self._delayed[hidden.message_id].due = due

    # -- the store clock's view of delays ----------------------------------------------------------
    def next_due(self) -> datetime | None:
        now = self.clock.now()
        future = [d.due for d in self._delayed.values() if d.due > now]
        return min(future) if future else None

    async def release_due(self, queues: Iterable[str]) -> set[str]:
        """Make visible the delayed messages the clock says are due but the server still hides; the
        queues that have such messages to read now."""
        wanted = set(queues)
        now = self.clock.now()
        server_now = datetime.now(timezone.utc)
        due = [d for d in self._delayed.values() if d.queue in wanted and d.due <= now]
        for entry in due:
            self._delayed.pop(entry.message_id, None)
        late = [d for d in due if d.server_visible + _SERVER_PRECISION > server_now]
        await asyncio.gather(*(self._update(d.queue, d.message_id, d.pop_receipt, 0) for d in late))
        return {d.queue for d in due}

    def prune(self, readable: Iterable[str]) -> None:
        """Forget due delays on control queues another worker reads: that worker receives them."""
        keep = set(readable) | {self.work_name}
        now = self.clock.now()
        for key in [k for k, d in self._delayed.items() if d.queue not in keep and d.due <= now]:
            del self._delayed[key]


def _reason(exc: Exception) -> str:
    code = getattr(exc, "error_code", None) or getattr(exc, "status_code", None)
    return str(code) if code else type(exc).__name__
