"""The task hub store interface every backend implements (SQLite embedded, Azure Storage)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..engine.history import HistoryEvent
from ..engine.messages import TaskMessage
from ..engine.orchestration import EpisodeCommit
from ..engine.status import InstanceState, RuntimeStatus

# Statuses a new start may not overwrite under the default `NonRunningStates` policy.
RUNNING_STATES = frozenset(
    {RuntimeStatus.RUNNING, RuntimeStatus.PENDING, RuntimeStatus.CONTINUED_AS_NEW, RuntimeStatus.SUSPENDED}
)


class InstanceExistsError(Exception):
    def __init__(self, instance_id: str, status: RuntimeStatus) -> None:
        self.instance_id = instance_id
        self.status = status
        super().__init__(
            f"An orchestration with instance ID '{instance_id}' already exists and is {status.value}; "
            "wait for it to finish, terminate it, or start with another instance ID."
        )


@dataclass
class OrchestrationWorkItem:
    """An instance locked for one episode: its stored state and the messages to apply."""

    instance_id: str
    instance: InstanceState | None
    history: list[HistoryEvent]
    messages: list[TaskMessage]
    lock: Any = None  # backend-specific receipt


@dataclass
class ActivityWorkItem:
    """One TaskScheduled message locked for execution."""

    instance_id: str
    execution_id: str | None
    event: HistoryEvent
    dequeue_count: int = 1
    lock: Any = None


@dataclass(frozen=True)
class InstanceQuery:
    created_from: datetime | None = None
    created_to: datetime | None = None
    statuses: frozenset[RuntimeStatus] = frozenset()
    instance_id_prefix: str | None = None
    page_size: int = 100
    continuation_token: str | None = None
    entities: bool = False  # False: orchestrations only (ids not starting with '@'); True: entities only


@dataclass
class InstancePage:
    instances: list[InstanceState]
    continuation_token: str | None = None


class WorkSignal:
    """Wakes a dispatcher at once when this host enqueued work, instead of waiting for its next poll.

    A notice that finds nobody waiting is kept for the next `wait`. Used on the event loop's thread only.
    One future and one timer per wait: `asyncio.wait_for` around an Event adds a task and two loop turns
    to every wake-up, and a busy host's activity dispatcher wakes once per activity step."""

    def __init__(self) -> None:
        self._pending = False
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        self._pending = True
        for waiter in self._waiters:
            _wake(waiter)

    async def wait(self, timeout: float) -> None:
        """Until notified (or notified since the last wait returned), or `timeout` seconds pass."""
        if not self._pending and timeout > 0:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_later(timeout, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiters.remove(waiter)
        self._pending = False


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class TaskHubStore(Protocol):
    """Durable state of one task hub. Every method that writes is atomic for what it is given."""

    control_signal: WorkSignal
    work_signal: WorkSignal

    async def open(self) -> None:
        """Create what is missing (tables, queues) and take whatever ownership the backend needs."""
        ...

    async def close(self) -> None: ...

    async def start_orchestration(
        self, instance: InstanceState, start: TaskMessage, *, overwrite_running: bool = False
    ) -> None:
        """Write the Pending row and the ExecutionStarted message; InstanceExistsError if not allowed."""
        ...

    async def send_messages(self, messages: Sequence[TaskMessage]) -> None: ...

    async def lock_next_orchestration(self) -> OrchestrationWorkItem | None:
        """An instance with visible messages, locked. A store may hold back, for a moment, an instance
        whose activities are still running, so their results gather into one episode (fan-in)."""
        ...

    async def complete_orchestration(self, item: OrchestrationWorkItem, commit: EpisodeCommit) -> None:
        """Persist the episode, send its messages and delete what it consumed, all or nothing."""
        ...

    async def abandon_orchestration(self, item: OrchestrationWorkItem, delay_seconds: float) -> None: ...

    async def lock_orchestration_with(
        self, instance_id: str, messages: Sequence[TaskMessage], completed_work: ActivityWorkItem
    ) -> OrchestrationWorkItem | None:
        """Optional fast path: lock `instance_id` at once with in-memory `messages` (an activity's result),
        so completing the episode also deletes `completed_work`. None if busy or not supported."""
        ...

    async def lock_next_activity(self) -> ActivityWorkItem | None: ...

    async def complete_activity(self, item: ActivityWorkItem, response: TaskMessage) -> None:
        """Send the activity's result to its orchestration and delete the work item, atomically."""
        ...

    async def abandon_activity(self, item: ActivityWorkItem, delay_seconds: float) -> None: ...

    async def next_visible_time(self) -> datetime | None:
        """When the earliest delayed message (a timer) becomes visible, if any is waiting."""
        ...

    async def get_instance(self, instance_id: str) -> InstanceState | None: ...

    async def get_history(self, instance_id: str) -> list[HistoryEvent]: ...

    async def query_instances(self, query: InstanceQuery) -> InstancePage: ...

    async def purge_instance(self, instance_id: str) -> int: ...

    async def purge_instances(
        self, created_from: datetime, created_to: datetime | None, statuses: frozenset[RuntimeStatus]
    ) -> int: ...


InstanceCheck = Callable[[InstanceState | None], None]
"""Raises to refuse a message for an instance in that state (e.g. an event for a completed instance)."""


@runtime_checkable
class InlineMessageDelivery(Protocol):
    """A store that can lock an idle instance together with a message a client sends, so one commit
    records the message and the episode it wakes (the embedded store: it is the hub's only writer)."""

    async def lock_orchestration_for(
        self, message: TaskMessage, check: InstanceCheck
    ) -> OrchestrationWorkItem | None:
        """The instance locked with `message` in memory, after `check` accepted its stored state (its
        error propagates, nothing locked). None when the instance is busy: send the message instead."""
        ...


@runtime_checkable
class BatchActivityLocking(Protocol):
    """A store that can lock several activity work items in one call (one hop to its thread)."""

    async def lock_next_activities(self, limit: int) -> list[ActivityWorkItem]:
        """Up to `limit` visible work items, oldest first, each locked as `lock_next_activity` locks."""
        ...
