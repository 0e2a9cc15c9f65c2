"""A clock for test hosts: real time plus an offset that only moves forward.

While a test waits, the time keeper freezes it at each due time it skips to, so everything that runs
after a skip sees exactly that instant (a daily timer fires at exactly +1 day, not +1 day + a few ms).
When the wait ends the clock runs on from there at real speed.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


def _real_now() -> datetime:
    return datetime.now(timezone.utc)


class VirtualClock:
    """Implements `durable_ext.clock.Clock`; read from the store, dispatcher and orchestrator threads."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0) if start is None else _aware(start) - _real_now()
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> datetime:
        return self._frozen if self._frozen is not None else _real_now() + self._offset

    @property
    def is_frozen(self) -> bool:
        with self._lock:
            return self._frozen is not None

    def freeze_at(self, moment: datetime) -> datetime:
        """Jump to `moment` (never backwards) and stay there until `resume`. Returns the new now."""
        with self._lock:
            self._frozen = max(self._now_locked(), _aware(moment))
            return self._frozen

    def resume(self) -> None:
        """Run at real speed again, from where the clock stands."""
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - _real_now()
                self._frozen = None

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta` (negative values are refused: stored timers assume time only grows)."""
        if delta < timedelta(0):
            raise ValueError("the clock cannot go back")
        with self._lock:
            if self._frozen is not None:
                self._frozen += delta
            else:
                self._offset += delta
            return self._now_locked()


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
