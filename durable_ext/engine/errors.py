"""Errors the engine reports about an orchestration (never about I/O)."""

from __future__ import annotations


class NonDeterminismError(Exception):
    """Replayed code scheduled something other than what the history holds."""

    def __init__(self, *, event_id: int, expected: str, actual: str) -> None:
        self.event_id = event_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"Non-deterministic workflow detected: the history has {expected} at event id {event_id}, "
            f"but the orchestrator now schedules {actual}. Orchestrator code must make the same calls in "
            "the same order on every replay; deploy changed code under a new orchestrator name or version."
        )
