"""The `{hub}Instances` table: one row per instance (PartitionKey = escaped id, RowKey = "").

Columns follow DT.AS's OrchestrationInstanceStatus. One addition, `ParentInstanceId`, keeps the
parent of a sub-orchestration on the row (DT.AS reads it from history); .NET readers ignore it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from ...engine.status import InstanceState, RuntimeStatus
from ..base import InstancePage, InstanceQuery
from .blobs import BLOB_NAME_SUFFIX, LargeMessageStore, exceeds_table_limit, history_blob_name
from .entities import datetime_column, datetime_text, service_datetime
from .envelope import EnvelopeError, decode
from .history_table import quote_odata
from .naming import escape_key, unescape_key

_NULL = "null"  # DT.AS writes unset CustomStatus and Tags as the text "null"
_LARGE_COLUMNS = ("Input", "Output")
_START_BLOB_SUFFIX = "ExecutionStarted.json.gz"


@dataclass
class InstanceRow:
    state: InstanceState
    etag: str | None = None
    generation: int = 0
    raw: dict[str, Any] = field(default_factory=dict)  # stored column values (blob URLs, not texts)


class InstancesTable:
    def __init__(self, table: TableClient, blobs: LargeMessageStore, hub_name: str) -> None:
        self.table = table
        self.blobs = blobs
        self.hub_name = hub_name

    # -- reading ----------------------------------------------------------------------------------
    async def get(self, instance_id: str) -> InstanceRow | None:
        try:
            entity = await self.table.get_entity(escape_key(instance_id), "")
        except ResourceNotFoundError:
            return None
        return await self._row(entity)

    async def _row(self, entity: Any) -> InstanceRow:
        raw = dict(entity)
        values = {column: await self._large_value(raw, column) for column in _LARGE_COLUMNS}
        return _as_row(raw, values, etag=getattr(entity, "metadata", {}).get("etag"))

    async def _large_value(self, raw: dict[str, Any], column: str) -> str | None:
        blob_name = raw.get(column + BLOB_NAME_SUFFIX)
        if blob_name:
            return await self.blobs.download(blob_name)
        value = raw.get(column)
        blob_name = self.blobs.blob_name_from_url(value)
        if blob_name is None:
            return value
        text = await self.blobs.download(blob_name)
        if blob_name.endswith(_START_BLOB_SUFFIX):
            # A client start whose message went to a blob: the blob is the whole MessageData.
            try:
                envelope = decode(text)
            except EnvelopeError:
                return text
            return envelope.message.event.input if envelope.message is not None else None
        return text

    # -- writing ----------------------------------------------------------------------------------
    async def create(
        self,
        state: InstanceState,
        *,
        existing: InstanceRow | None,
        tags: dict[str, str] | None,
        scheduled_start: datetime | None,
        input_url: str | None,
    ) -> InstanceRow | None:
        """The Pending row of a client start: insert, or replace the old row under its ETag.

        The row written; None when another writer changed the row meanwhile (DT.AS ignores that race
        too).
        """
        entity = self._entity(state, generation=existing.generation + 1 if existing else 0, tags=tags)
        if scheduled_start is not None:
            entity["ScheduledStartTime"] = datetime_column(scheduled_start)
        entity.pop("CustomStatus", None)  # a start leaves it unset
        if input_url is not None:
            entity["Input"] = input_url
        elif state.input is not None and exceeds_table_limit(state.input):
            name = history_blob_name(entity["PartitionKey"], "", "Input", "Input")
            await self.blobs.upload(name, state.input)
            entity["Input"] = ""
            entity["InputBlobName"] = name
        try:
            if existing is None:
                written = await self.table.create_entity(entity)
            else:
                written = await self.table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=existing.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError):
            return None
        values = {"Input": state.input, "Output": state.output}
        return _as_row(entity, values, etag=(written or {}).get("etag"))

    async def write(
        self,
        state: InstanceState,
        *,
        previous: InstanceRow | None,
        tags: dict[str, str] | None,
        generation: int | None,
        scheduled_start: datetime | None,
        history_blobs: dict[tuple[str, str], str],
    ) -> InstanceRow:
        """The row after a checkpoint: every column from `state`, large values as blob URLs."""
        old = previous.raw if previous else {}
        entity = self._entity(
            state,
            generation=generation if generation is not None else (previous.generation if previous else 0),
            tags=tags if tags is not None else _tags_from(old.get("Tags")),
        )
        if scheduled_start is not None:
            entity["ScheduledStartTime"] = datetime_column(scheduled_start)
        elif old.get("ScheduledStartTime") is not None:
            entity["ScheduledStartTime"] = old["ScheduledStartTime"]
        for column in _LARGE_COLUMNS:
            value = entity.get(column)
            if not isinstance(value, str) or not exceeds_table_limit(value):
                continue
            previous_text = getattr(previous.state, column.lower()) if previous else None
            if previous_text == value and (old.get(column) or old.get(column + BLOB_NAME_SUFFIX)):
                entity[column] = old.get(column)  # unchanged: keep pointing at the same blob
                if old.get(column + BLOB_NAME_SUFFIX):
                    entity[column + BLOB_NAME_SUFFIX] = old[column + BLOB_NAME_SUFFIX]
                continue
            # DT.AS points the row at the history row's blob: Input of ExecutionStarted, Result of the end.
            sources = ("Input",) if column == "Input" else ("Result", "Output", "Reason")
            name = next((history_blobs[(p, value)] for p in sources if (p, value) in history_blobs), None)
            if name is None:
                name = history_blob_name(entity["PartitionKey"], "", column, column)
                await self.blobs.upload(name, value)
            entity[column] = self.blobs.url(name)
        written = await self.table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        # The row as reading it back would give it (large values as their texts, not blob URLs).
        values = {column: getattr(state, column.lower()) for column in _LARGE_COLUMNS}
        return _as_row(entity, values, etag=(written or {}).get("etag"))

    def _entity(
        self, state: InstanceState, *, generation: int, tags: dict[str, str] | None
    ) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": escape_key(state.instance_id),
            "RowKey": "",
            "ExecutionId": state.execution_id,
            "Name": state.name,
            "Version": state.version,
            "Input": state.input,
            "Output": state.output,
            "CustomStatus": state.custom_status if state.custom_status is not None else _NULL,
            "CreatedTime": datetime_column(state.created_time),
            "LastUpdatedTime": datetime_column(state.last_updated_time),
            "RuntimeStatus": state.runtime_status.value,
            "Generation": generation,
            "Tags": json.dumps(tags, separators=(",", ":")) if tags else _NULL,
            "TaskHubName": self.hub_name,
        }
        if state.completed_time is not None:
            entity["CompletedTime"] = datetime_column(state.completed_time)
        if state.parent_instance_id is not None:
            entity["ParentInstanceId"] = state.parent_instance_id
        return entity

    async def delete(self, instance_id: str) -> bool:
        partition_key = escape_key(instance_id)
        try:
            await self.table.get_entity(partition_key, "", select=["PartitionKey"])
        except ResourceNotFoundError:
            return False
        try:
            await self.table.delete_entity(partition_key, "")
        except ResourceNotFoundError:
            return False
        return True

    # -- queries ----------------------------------------------------------------------------------
    async def query(self, query: InstanceQuery) -> InstancePage:
        token = _decode_token(query.continuation_token) if query.continuation_token else None
        where = _filter(query.created_from, query.created_to, query.statuses, query.instance_id_prefix)
        # Entity ids are '@name@key': the key range ['@', 'A') holds exactly them.
        where += (
            " and PartitionKey ge '@' and PartitionKey lt 'A'"
            if query.entities
            else " and (PartitionKey lt '@' or PartitionKey ge 'A')"
        )
        pages = self.table.query_entities(where, results_per_page=query.page_size).by_page(
            continuation_token=token  # type: ignore[arg-type]  # tables pages by a key dict
        )
        instances: list[InstanceState] = []
        async for page in pages:
            async for entity in page:
                instances.append((await self._row(entity)).state)
            break
        next_token = getattr(pages, "continuation_token", None)
        return InstancePage(instances, _encode_token(next_token) if next_token else None)

    async def ids(
        self, created_from: datetime | None, created_to: datetime | None, statuses: frozenset[RuntimeStatus]
    ) -> list[str]:
        where = _filter(created_from, created_to, statuses, None)
        return [
            unescape_key(e["PartitionKey"])
            async for e in self.table.query_entities(where, select=["PartitionKey"])
        ]


def _as_row(raw: dict[str, Any], values: dict[str, str | None], *, etag: str | None) -> InstanceRow:
    """A row from its stored columns (as read, or as just written) and its large values' texts."""
    custom = raw.get("CustomStatus")
    state = InstanceState(
        instance_id=unescape_key(raw["PartitionKey"]),
        name=raw.get("Name") or "",
        execution_id=raw.get("ExecutionId") or "",
        runtime_status=RuntimeStatus(raw.get("RuntimeStatus") or RuntimeStatus.PENDING.value),
        created_time=_moment(raw["CreatedTime"]),
        last_updated_time=_moment(raw.get("LastUpdatedTime") or raw["CreatedTime"]),
        input=values["Input"],
        output=values["Output"],
        custom_status=None if custom in (None, _NULL) else custom,
        version=raw.get("Version") or "",
        parent_instance_id=raw.get("ParentInstanceId"),
        completed_time=_moment(raw["CompletedTime"]) if raw.get("CompletedTime") else None,
    )
    generation = raw.get("Generation")
    return InstanceRow(
        state,
        etag=etag,
        generation=int(generation) if isinstance(generation, int) else 0,
        raw=raw,
    )


def _moment(value: Any) -> datetime:
    """A DateTime column read from the table, or as written (`datetime_column`: text and EDM type)."""
    if isinstance(value, tuple):
        return datetime.strptime(value[0][:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    return service_datetime(value)


def _tags_from(text: Any) -> dict[str, str] | None:
    if not isinstance(text, str) or text == _NULL:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _filter(
    created_from: datetime | None,
    created_to: datetime | None,
    statuses: frozenset[RuntimeStatus],
    prefix: str | None,
) -> str:
    clauses = ["RowKey eq ''"]
    if created_from is not None:
        clauses.append(f"CreatedTime ge datetime'{datetime_text(created_from)}'")
    if created_to is not None:
        clauses.append(f"CreatedTime le datetime'{datetime_text(created_to)}'")
    if statuses:
        ors = " or ".join(
            f"RuntimeStatus eq {quote_odata(s.value)}" for s in sorted(statuses, key=lambda s: s.value)
        )
        clauses.append(f"({ors})")
    if prefix:
        low = escape_key(prefix)
        high = low[:-1] + chr(ord(low[-1]) + 1)
        clauses.append(f"PartitionKey ge {quote_odata(low)} and PartitionKey lt {quote_odata(high)}")
    return " and ".join(clauses)


def _encode_token(token: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()


def _decode_token(text: str) -> dict[str, str]:
    try:
        value = json.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid continuation token {text!r}") from exc
    if (
        not isinstance(value, dict)
        or not {"PartitionKey", "RowKey"} <= set(value)
        or not all(isinstance(v, (str, type(None))) for v in value.values())
    ):
        raise ValueError(f"invalid continuation token {text!r}")
    return value
