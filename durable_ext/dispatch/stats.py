"""Counters the dispatchers keep, and the one-line live summary the CLI prints while work runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..engine.status import RuntimeStatus


@dataclass
class DispatchStats:
    completed: int = 0
    failed: int = 0
    terminated: int = 0
    activities: int = 0
    entity_operations: int = 0
    _last: tuple[float, int, int, int] = field(default_factory=lambda: (time.monotonic(), 0, 0, 0))

    def record_instance(self, status: RuntimeStatus | None) -> None:
        if status == RuntimeStatus.COMPLETED:
            self.completed += 1
        elif status == RuntimeStatus.FAILED:
            self.failed += 1
        elif status == RuntimeStatus.TERMINATED:
            self.terminated += 1

    def summary(self, running: int) -> str | None:
        """The line to print, or None when nothing happened since the last one."""
        now = time.monotonic()
        since, done_before, activities_before, ops_before = self._last
        if (self.completed + self.failed, self.activities, self.entity_operations) == (
            done_before,
            activities_before,
            ops_before,
        ) and running == 0:
            return None
        rate = (self.activities - activities_before) / max(now - since, 1e-6)
        self._last = (now, self.completed + self.failed, self.activities, self.entity_operations)
        return (
            f"[summary] episodes running {running}; instances completed {self.completed}, "
            f"failed {self.failed}, terminated {self.terminated}; activities {rate:.1f}/s; "
            f"entity operations {self.entity_operations}"
        )
