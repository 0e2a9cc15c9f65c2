"""The `{hub}History` table: one partition per instance, one row per event, and the `sentinel` row whose
ETag guards every checkpoint (a second writer of the same instance gets 412/409, never a torn history).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.data.tables.aio import TableClient

from ...engine.history import HistoryEvent
from .blobs import (
    BLOB_NAME_SUFFIX,
    BLOB_PROPERTIES,
    LargeMessageStore,
    exceeds_table_limit,
    history_blob_name,
)
from .entities import datetime_column, entity_to_event, event_to_entity
from .naming import SENTINEL_ROW_KEY, escape_key, row_key
from .table_transactions import TableOperation, TableTransactionFailed, submit

# An entity group transaction holds at most 100 entities: 99 events plus the sentinel.
MAX_EVENTS_PER_BATCH = 99
MAX_BATCH_BYTES = 3 * 1024 * 1024


class HistoryConflictError(Exception):
    """Another writer checkpointed this instance since its history was loaded (split brain)."""

    def __init__(self, instance_id: str, status: int | None) -> None:
        self.instance_id = instance_id
        super().__init__(
            f"The history of instance '{instance_id}' changed since it was loaded (HTTP {status}): "
            "another worker owns it now; this episode is abandoned and will be replayed."
        )


@dataclass
class LoadedHistory:
    events: list[HistoryEvent]
    execution_id: str | None = None
    etag: str | None = None  # the sentinel's; None when the instance has no sentinel yet
    row_keys: list[str] = field(default_factory=list)  # every event row, any execution
    blobs: list[str] = field(default_factory=list)


def quote_odata(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _estimated_bytes(entity: Mapping[str, Any]) -> int:
    size = 1024
    for prop in BLOB_PROPERTIES:  # the same properties DT.AS sizes a batch by
        value = entity.get(prop)
        if isinstance(value, str):
            size += 2 * len(value)
    return size


class HistoryTable:
    def __init__(self, table: TableClient, blobs: LargeMessageStore) -> None:
        self.table = table
        self.blobs = blobs

    async def load(self, instance_id: str) -> LoadedHistory:
        partition_key = escape_key(instance_id)
        rows = [
            row async for row in self.table.query_entities(f"PartitionKey eq {quote_odata(partition_key)}")
        ]
        rows.sort(key=lambda r: str(r["RowKey"]))
        sentinel = next((r for r in reversed(rows) if r["RowKey"] == SENTINEL_ROW_KEY), None)
        event_rows = [dict(r) for r in rows if r["RowKey"] != SENTINEL_ROW_KEY]
        loaded = LoadedHistory([], row_keys=[r["RowKey"] for r in event_rows])
        if sentinel is not None:
            loaded.etag = sentinel.metadata.get("etag")
            loaded.execution_id = sentinel.get("ExecutionId")
        if loaded.execution_id is None and event_rows:
            loaded.execution_id = event_rows[0].get("ExecutionId")
        current = _same_execution(event_rows, loaded.execution_id)
        for row in current:
            loaded.blobs.extend(await self._inflate(row))
        loaded.events = [entity_to_event(r) for r in current]
        return loaded

    async def _inflate(self, row: dict[str, Any]) -> list[str]:
        """Put large properties back from their blobs; the blob names read."""
        names = []
        for prop in BLOB_PROPERTIES:
            blob_name = row.pop(prop + BLOB_NAME_SUFFIX, None)
            if blob_name:
                row[prop] = await self.blobs.download(blob_name)
                names.append(blob_name)
        return names

    async def checkpoint(
        self,
        instance_id: str,
        execution_id: str,
        first_sequence: int,
        events: Sequence[HistoryEvent],
        *,
        etag: str | None,
        stale_row_keys: Sequence[str] = (),
        now: datetime,
    ) -> tuple[str | None, dict[tuple[str, str], str]]:
        """Write `events` from `first_sequence` on, then the sentinel, in batches of 99 + 1.

        Returns the new sentinel ETag and the blobs written ({(property, text): blob name}) so the
        Instances row can point at the same blob for its Input/Output.
        """
        partition_key = escape_key(instance_id)
        blobs: dict[tuple[str, str], str] = {}
        operations: list[TableOperation] = []
        for offset, event in enumerate(events):
            entity = event_to_entity(event)
            entity.update(
                PartitionKey=partition_key, RowKey=row_key(first_sequence + offset), ExecutionId=execution_id
            )
            await self._deflate(entity, blobs)
            # Replace, not insert: a replayed episode may rewrite the same rows.
            operations.append(TableOperation("upsert", entity))
        for key in stale_row_keys:
            operations.append(TableOperation("delete", {"PartitionKey": partition_key, "RowKey": key}))
        if not operations:
            return etag, blobs
        batches: list[list[TableOperation]] = [[]]
        size = 0
        for operation in operations:
            entity_size = _estimated_bytes(operation.entity)
            if batches[-1] and (
                len(batches[-1]) >= MAX_EVENTS_PER_BATCH or size + entity_size > MAX_BATCH_BYTES
            ):
                batches.append([])
                size = 0
            batches[-1].append(operation)
            size += entity_size
        for index, batch in enumerate(batches):
            final = index == len(batches) - 1
            sentinel: dict[str, Any] = {
                "PartitionKey": partition_key,
                "RowKey": SENTINEL_ROW_KEY,
                "ExecutionId": execution_id,
                "IsCheckpointComplete": final,
            }
            if final:
                sentinel["CheckpointCompletedTimestamp"] = datetime_column(now)
            if etag is not None:
                batch.append(TableOperation("merge", sentinel, etag=etag))
            else:
                batch.append(TableOperation("create", sentinel))
            try:
                etags = await submit(self.table, batch)
            except TableTransactionFailed as exc:
                if exc.status_code in (409, 412):
                    raise HistoryConflictError(instance_id, exc.status_code) from exc
                raise
            etag = etags[-1] or etag
        return etag, blobs

    async def _deflate(self, entity: dict[str, Any], blobs: dict[tuple[str, str], str]) -> None:
        """Move properties too large for a table cell to blobs, leaving '' and `{Property}BlobName`."""
        for prop in BLOB_PROPERTIES:
            value = entity.get(prop)
            if isinstance(value, str) and exceeds_table_limit(value):
                name = history_blob_name(entity["PartitionKey"], entity["RowKey"], entity["EventType"], prop)
                await self.blobs.upload(name, value)
                blobs.setdefault((prop, value), name)
                entity[prop] = ""
                entity[prop + BLOB_NAME_SUFFIX] = name

    async def delete_instance(self, instance_id: str) -> int:
        """Delete every row of the instance (all executions and the sentinel)."""
        partition_key = escape_key(instance_id)
        keys = [
            row["RowKey"]
            async for row in self.table.query_entities(
                f"PartitionKey eq {quote_odata(partition_key)}", select=["PartitionKey", "RowKey"]
            )
        ]
        for start in range(0, len(keys), 100):
            chunk = keys[start : start + 100]
            await submit(
                self.table,
                [TableOperation("delete", {"PartitionKey": partition_key, "RowKey": key}) for key in chunk],
            )
        return len(keys)


def _same_execution(rows: list[dict[str, Any]], execution_id: str | None) -> list[dict[str, Any]]:
    """Rows up to the first one of another execution (older rows a shorter new execution left behind)."""
    out = []
    for row in rows:
        if execution_id is not None and row.get("ExecutionId") != execution_id:
            break
        out.append(row)
    return out
