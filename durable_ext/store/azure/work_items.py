"""Activity work items this worker holds: received in batches or handed over locally, waiting to run,
running, or done with their result waiting in memory for the episode that records it.

Every one of them is hidden on the work-item queue under this worker's pop receipt and renewed while
held (`AzureStorageTaskHubStore._renew_locks`); a crash lets them show again after one hold, as a
crash lets the control-queue messages it held.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

from ...engine.messages import TaskMessage
from .queues import Received

# Work items waiting here to run, at most: a handover beyond it goes to the shared queue for any worker.
LOCAL_BACKLOG = 32


@dataclass
class ActivityLock:
    received: Received  # replaced when the lock is renewed


@dataclass
class LocalResult:
    """An activity's result kept in memory instead of sent to the control queue: its work item stays
    locked until an episode commits the result, then is deleted (a crash runs the activity again)."""

    message: TaskMessage
    work: ActivityLock
    queue: str  # the instance's control queue
    arrived: datetime  # orders it among the instance's queue messages

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.arrived, 0)


class WorkItems:
    def __init__(self) -> None:
        self._held: dict[str, ActivityLock] = {}  # message id -> lock, whatever the stage
        self._ready: deque[ActivityLock] = deque()  # not handed out yet

    def hold(self, received: Received) -> ActivityLock:
        lock = self._held[received.message_id] = ActivityLock(received)
        return lock

    def offer(self, lock: ActivityLock) -> None:
        """Ready to be handed out by `lock_next_activity`."""
        if lock in self:
            self._ready.append(lock)

    def next_ready(self) -> ActivityLock | None:
        while self._ready:
            lock = self._ready.popleft()
            if lock in self:
                return lock
        return None

    def release(self, lock: ActivityLock) -> None:
        """No longer held: deleted, or put back on the queue. (A copy received again since, with its
        own pop receipt, stays held.)"""
        if self._held.get(lock.received.message_id) is lock:
            del self._held[lock.received.message_id]

    @property
    def backlog(self) -> int:
        return len(self._ready)

    def held(self) -> list[ActivityLock]:
        return list(self._held.values())

    def __contains__(self, lock: ActivityLock) -> bool:
        return self._held.get(lock.received.message_id) is lock
