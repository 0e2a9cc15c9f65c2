"""The storage account's own queues, for `queueTrigger` and `queue` bindings (not the task hub's queues)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .base import WorkSignal

_QUEUE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


def check_queue_name(name: str) -> str:
    """Azure queue names: 3-63 lower-case letters, digits and single hyphens, not at either end."""
    if not _QUEUE_NAME.match(name):
        raise ValueError(
            f"'{name}' is not a valid queue name: use 3-63 lower-case letters, digits and single hyphens, "
            "starting and ending with a letter or digit."
        )
    return name


@dataclass(frozen=True)
class AppQueueMessage:
    queue: str
    id: str
    body: str
    dequeue_count: int
    insertion_time: datetime
    expiration_time: datetime
    next_visible_time: datetime
    pop_receipt: str


class AppQueues(Protocol):
    def signal(self, queue: str) -> WorkSignal:
        """Notified when this process puts a message on `queue`."""
        ...

    async def put(self, queue: str, body: str, *, delay_seconds: float = 0.0) -> str: ...

    async def get(self, queue: str, *, visibility_timeout: float) -> AppQueueMessage | None:
        """The next visible message, hidden for `visibility_timeout` seconds, its dequeue count raised."""
        ...

    async def delete(self, message: AppQueueMessage) -> None: ...

    async def release(self, message: AppQueueMessage, *, delay_seconds: float) -> None:
        """Make a message that failed visible again after `delay_seconds`."""
        ...

    async def peek(self, queue: str, limit: int = 32) -> list[AppQueueMessage]: ...
