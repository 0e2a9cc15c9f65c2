"""Runtime status of an orchestration instance, and the stored summary of one instance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class RuntimeStatus(str, Enum):
    """`OrchestrationRuntimeStatus` names, as the status API and the SDK spell them."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"
    PENDING = "Pending"
    SUSPENDED = "Suspended"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def orchestration_status_code(self) -> int:
        """The DTFx `OrchestrationStatus` integer written in ExecutionCompleted."""
        return _STATUS_CODES[self]


TERMINAL_STATUSES = frozenset(
    {RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.CANCELED, RuntimeStatus.TERMINATED}
)
_STATUS_CODES = {
    RuntimeStatus.RUNNING: 0,
    RuntimeStatus.COMPLETED: 1,
    RuntimeStatus.CONTINUED_AS_NEW: 2,
    RuntimeStatus.FAILED: 3,
    RuntimeStatus.CANCELED: 4,
    RuntimeStatus.TERMINATED: 5,
    RuntimeStatus.PENDING: 6,
    RuntimeStatus.SUSPENDED: 7,
}
STATUS_BY_CODE = {code: status for status, code in _STATUS_CODES.items()}


@dataclass(frozen=True)
class InstanceState:
    """One row of the instances table: what status queries return."""

    instance_id: str
    name: str
    execution_id: str
    runtime_status: RuntimeStatus
    created_time: datetime
    last_updated_time: datetime
    input: str | None = None  # stored serialized input (JSON text)
    output: str | None = None  # JSON text, or plain text for failure messages
    custom_status: str | None = None  # JSON text
    version: str = ""
    parent_instance_id: str | None = None
    completed_time: datetime | None = None
