"""Control-queue messages held in memory between dequeue and the work item that consumes them.

DT.AS dequeues whole batches and groups them per instance; a message for an instance that is busy in
an episode waits here for that instance's next work item. So do activity results this worker produced
for its own instances (their work items stay locked until an episode records them). Only this process
sees this state: the partition lease makes it the single reader of its control queues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from ...engine.history import EventType, HistoryEvent, parse_timestamp
from ...engine.status import InstanceState, RuntimeStatus
from .queues import Received
from .work_items import LocalResult

# DT.AS stops deferring a start whose Instances row never matched it after this many dequeues.
MAX_START_DEFERRALS = 10


class StartVerdict(Enum):
    KEEP = "keep"
    DEFER = "defer"  # the client has not written its row yet: look again later
    DISCARD = "discard"  # superseded by a newer start of the same id


def start_verdict(event: HistoryEvent, dequeue_count: int, row: InstanceState | None) -> StartVerdict:
    """ExecutionStarted de-duplication (DT.AS §4.8) for client starts racing their Instances row.

    A client enqueues the start before it writes the row, so a start newer than the row waits for it,
    and a Pending row naming another execution means this start lost to a newer one. Everything else
    goes to the engine, which drops duplicate starts itself.
    """
    if (
        row is None
        or event.event_type != EventType.EXECUTION_STARTED
        or event.parent_instance
        or not event.execution_id
        or event.execution_id == row.execution_id
    ):
        return StartVerdict.KEEP
    try:
        newer = parse_timestamp(event.timestamp) > row.created_time
    except ValueError:
        newer = False
    if dequeue_count >= MAX_START_DEFERRALS or (not newer and row.runtime_status == RuntimeStatus.PENDING):
        return StartVerdict.DISCARD
    return StartVerdict.DEFER if newer else StartVerdict.KEEP


@dataclass
class _Hold:
    """An abandoned batch: later messages of the instance wait until these come back."""

    message_ids: set[str]
    until: datetime  # server clock: give up waiting (the messages went elsewhere)


@dataclass
class LockedBatch:
    """The messages of one work item; redelivered copies replace their entry in place. `results` are
    activity results this worker kept in memory (their work items are deleted on commit)."""

    instance_id: str
    messages: list[Received] = field(default_factory=list)
    results: list[LocalResult] = field(default_factory=list)
    queue: str | None = None  # the instance's control queue, when known


def _queue_of(messages: list[Received], results: list[LocalResult]) -> str | None:
    if messages:
        return messages[0].queue
    return results[0].queue if results else None


class ControlBuffer:
    def __init__(self) -> None:
        self._pending: dict[str, list[Received]] = {}
        self._results: dict[str, list[LocalResult]] = {}
        self._locked: dict[str, LockedBatch] = {}
        self._holds: dict[str, _Hold] = {}

    def __len__(self) -> int:
        """Messages waiting (not results: the receive threshold counts what receives brought)."""
        return sum(len(v) for v in self._pending.values())

    def add(self, received: Received) -> None:
        instance_id = received.message.instance_id
        hold = self._holds.get(instance_id)
        if hold is not None:
            hold.message_ids.discard(received.message_id)
            if not hold.message_ids:
                del self._holds[instance_id]
        # The same message dequeued again (its visibility ran out while it waited): keep the newest
        # copy, whose pop receipt is the one that can delete it.
        batch = self._locked.get(instance_id)
        if batch is not None and _replace(batch.messages, received):
            return
        pending = self._pending.setdefault(instance_id, [])
        if not _replace(pending, received):
            pending.append(received)

    def add_result(self, result: LocalResult) -> None:
        """An activity result for the instance's next work item (after any episode running now)."""
        self._results.setdefault(result.message.instance_id, []).append(result)

    def is_locked(self, instance_id: str) -> bool:
        return instance_id in self._locked

    def _waiting(self, server_now: datetime) -> list[tuple[tuple[datetime, int], str]]:
        ready: list[tuple[tuple[datetime, int], str]] = []
        for instance_id in {*self._pending, *self._results}:
            messages = self._pending.get(instance_id, [])
            results = self._results.get(instance_id, [])
            if instance_id in self._locked or not (messages or results):
                continue
            hold = self._holds.get(instance_id)
            if hold is not None:
                if hold.until > server_now:
                    continue
                del self._holds[instance_id]
            orders = [*(r.order for r in messages), *(r.order for r in results)]
            ready.append((min(orders), instance_id))
        return ready

    def has_ready(self, server_now: datetime) -> bool:
        return bool(self._waiting(server_now))

    def take_ready(self, server_now: datetime) -> LockedBatch | None:
        """The waiting instance with the oldest message, not in an episode and not held back, now locked."""
        ready = self._waiting(server_now)
        if not ready:
            return None
        return self._lock(min(ready)[1], None)

    def _lock(self, instance_id: str, queue: str | None) -> LockedBatch:
        messages = sorted(self._pending.pop(instance_id, []), key=lambda r: r.order)
        results = self._results.pop(instance_id, [])
        batch = LockedBatch(instance_id, messages, results, _queue_of(messages, results) or queue)
        self._locked[instance_id] = batch
        return batch

    def lock_instance(self, instance_id: str, server_now: datetime, queue: str) -> LockedBatch | None:
        """Lock one instance now, with whatever waits for it; None when it is busy or held back."""
        hold = self._holds.get(instance_id)
        if instance_id in self._locked or (hold is not None and hold.until > server_now):
            return None
        self._holds.pop(instance_id, None)
        return self._lock(instance_id, queue)

    def unlock(
        self,
        batch: LockedBatch,
        *,
        keep: list[Received] | None = None,
        keep_results: list[LocalResult] | None = None,
    ) -> None:
        """End the lock; `keep` goes back to the waiting messages (in front of newer arrivals)."""
        self._locked.pop(batch.instance_id, None)
        if keep:
            waiting = self._pending.pop(batch.instance_id, [])
            self._pending[batch.instance_id] = [*keep, *waiting]
        if keep_results:
            later = self._results.pop(batch.instance_id, [])
            self._results[batch.instance_id] = [*keep_results, *later]

    def hold(self, instance_id: str, message_ids: set[str], until: datetime) -> None:
        if message_ids:
            self._holds[instance_id] = _Hold(set(message_ids), until)

    def take_pending(self, instance_id: str) -> tuple[list[Received], list[LocalResult]]:
        return self._pending.pop(instance_id, []), self._results.pop(instance_id, [])

    def take_queue(self, queue: str) -> tuple[list[Received], list[LocalResult]]:
        """Every waiting (unlocked) message and result of a queue, removed from the buffer."""
        messages: list[Received] = []
        results: list[LocalResult] = []
        for instance_id in list(self._pending):
            waiting = self._pending[instance_id]
            if waiting and waiting[0].queue == queue:
                messages.extend(self._pending.pop(instance_id))
        for instance_id in list(self._results):
            waiting_results = self._results[instance_id]
            if waiting_results and waiting_results[0].queue == queue:
                results.extend(self._results.pop(instance_id))
        return messages, results

    def take_results(self) -> list[LocalResult]:
        """Every waiting result (closing)."""
        results = [r for waiting in self._results.values() for r in waiting]
        self._results.clear()
        return results

    def held(self) -> list[Received]:
        """Every message in memory, waiting or locked: their visibility must outlast the wait."""
        waiting = [r for messages in self._pending.values() for r in messages]
        return waiting + [r for batch in self._locked.values() for r in batch.messages]

    def renewed(self, received: Received) -> None:
        """Swap in a renewed copy (new pop receipt) wherever the message now waits or is locked."""
        instance_id = received.message.instance_id
        batch = self._locked.get(instance_id)
        if batch is None or not _replace(batch.messages, received):
            _replace(self._pending.get(instance_id, []), received)

    def locked_batches(self) -> list[LockedBatch]:
        return list(self._locked.values())

    def locked_in(self, queue: str) -> int:
        return sum(1 for b in self._locked.values() if b.queue == queue)


def _replace(messages: list[Received], received: Received) -> bool:
    for index, existing in enumerate(messages):
        if existing.message_id == received.message_id:
            messages[index] = received
            return True
    return False
