"""Messages between instances, activities and clients: one history event addressed to one instance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .history import EventType, HistoryEvent


@dataclass(frozen=True)
class TaskMessage:
    """DTFx `TaskMessage`: `event` for orchestration `instance_id` (and `execution_id`, when it matters).

    A TaskScheduled message is an activity work item; every other message goes to the instance's
    control queue. `visible_at` delays delivery (timers, scheduled starts).
    """

    instance_id: str
    event: HistoryEvent
    execution_id: str | None = None
    visible_at: datetime | None = None

    @property
    def is_work_item(self) -> bool:
        return self.event.event_type == EventType.TASK_SCHEDULED
