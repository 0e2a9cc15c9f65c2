"""What this worker last wrote for each instance it runs: the history (with the sentinel ETag) and the
Instances row, so the next episode of the instance skips reading them back.

Only the owner of an instance's partition checkpoints it, so between two of its episodes nothing else
changes that history; if something did (a split brain, a purge by another host), the ETag-checked
checkpoint fails and the store drops the entry, and the retry reads the table. The row is also
written by clients, but only to start an instance, and a work item carrying a start is read fresh
unless this process wrote that start's row itself. Entries of a partition are dropped when this
worker stops reading it, and after any failed or abandoned episode.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

from .history_table import LoadedHistory
from .instances_table import InstanceRow

MAX_INSTANCES = 2_000
MAX_EVENTS = 200_000  # all cached histories together


@dataclass(frozen=True)
class CachedInstance:
    queue: str  # the instance's control queue
    history: LoadedHistory
    row: InstanceRow | None
    # Written by this process's own client start of this execution (its start message may use it).
    started: str | None = None


class InstanceCache:
    def __init__(self, max_instances: int = MAX_INSTANCES, max_events: int = MAX_EVENTS) -> None:
        self.max_instances = max_instances
        self.max_events = max_events
        self._entries: OrderedDict[str, CachedInstance] = OrderedDict()
        self._events = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, instance_id: str) -> CachedInstance | None:
        """A copy the caller may change (a work item updates its ETag as it commits)."""
        entry = self._entries.get(instance_id)
        if entry is None:
            return None
        self._entries.move_to_end(instance_id)
        history = entry.history
        copy = replace(
            history,
            events=list(history.events),
            row_keys=list(history.row_keys),
            blobs=list(history.blobs),
        )
        return CachedInstance(entry.queue, copy, entry.row, entry.started)

    def put(self, instance_id: str, entry: CachedInstance) -> None:
        self.drop(instance_id)
        if len(entry.history.events) > self.max_events:
            return
        self._entries[instance_id] = entry
        self._events += len(entry.history.events)
        while len(self._entries) > self.max_instances or self._events > self.max_events:
            _, evicted = self._entries.popitem(last=False)
            self._events -= len(evicted.history.events)

    def drop(self, instance_id: str) -> None:
        entry = self._entries.pop(instance_id, None)
        if entry is not None:
            self._events -= len(entry.history.events)

    def drop_queue(self, queue: str) -> None:
        for instance_id in [i for i, e in self._entries.items() if e.queue == queue]:
            self.drop(instance_id)

    def clear(self) -> None:
        self._entries.clear()
        self._events = 0
