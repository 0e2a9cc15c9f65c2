"""Wake-ups for those waiting on an instance to end, when this host commits its terminal status.

A client that waits for completion (the HTTP API's start with `timeout`, an in-process caller) still
polls the store, since on a shared Azure Storage hub another host may finish the instance; but when
this host's dispatcher finishes it, the wait wakes at once instead of at its next poll.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..store.base import WorkSignal


class CompletionNotices:
    """Per instance id, the signals to set when this host commits the instance's terminal status.

    Used on the event loop's thread only (the dispatcher and the clients share the host's loop).
    """

    def __init__(self) -> None:
        self._watches: dict[str, list[WorkSignal]] = {}

    @contextmanager
    def watching(self, instance_id: str) -> Iterator[WorkSignal]:
        """A signal that `ended(instance_id)` sets, for as long as the block runs."""
        signal = WorkSignal()
        self._watches.setdefault(instance_id, []).append(signal)
        try:
            yield signal
        finally:
            watches = self._watches[instance_id]
            watches.remove(signal)
            if not watches:
                del self._watches[instance_id]

    def ended(self, instance_id: str) -> None:
        """The instance's terminal status is durable: wake whoever waits on it."""
        for signal in self._watches.get(instance_id, ()):
            signal.notify()
