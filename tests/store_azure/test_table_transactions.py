"""Entity group transactions encoded by hand, against Azurite: rows read back as the SDK's own
transactions write them, conditions reject the whole group, and failures name the table and the error."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import EdmType, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from durable_ext.store.azure.table_transactions import (
    TableOperation,
    TableTransactionFailed,
    decode_batch_response,
    entity_json,
    submit,
)

KEYS = ["plain", "it's quoted", "spaces and ü and %25", "a+b&c=d"]


@asynccontextmanager
async def fresh_table(azurite: str) -> AsyncIterator[TableClient]:
    async with TableServiceClient.from_connection_string(azurite) as service:
        name = f"tx{uuid.uuid4().hex[:12]}"
        await service.create_table(name)
        try:
            yield service.get_table_client(name)
        finally:
            await service.delete_table(name)


def _row(partition: str, row: str) -> dict[str, Any]:
    return {
        "PartitionKey": partition,
        "RowKey": row,
        "Text": 'héllo "world"\n',
        "Small": 7,
        "Negative": -(2**31),
        "Large": 2**40,
        "Flag": False,
        "Ratio": 0.25,
        "When": ("2024-01-02T03:04:05.1234567Z", EdmType.DATETIME),
        "Moment": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc),
        "Absent": None,
    }


async def _read(table: TableClient, partition: str, row: str) -> dict[str, Any]:
    entity = await table.get_entity(partition, row)
    return {name: value for name, value in entity.items() if name != "RowKey"}


async def test_rows_read_back_exactly_as_the_sdk_writes_them(azurite: str) -> None:
    async with fresh_table(azurite) as table:
        for partition in KEYS:
            sdk_row, our_row = _row(partition, "by-sdk"), _row(partition, "by-us")
            sdk_row["Large"] = (str(2**40), EdmType.INT64)  # the SDK takes large ints only so annotated
            await table.submit_transaction([("upsert", sdk_row, {"mode": UpdateMode.REPLACE})])
            etags = await submit(table, [TableOperation("upsert", our_row)])

            assert await _read(table, partition, "by-us") == await _read(table, partition, "by-sdk")
            assert etags == [(await table.get_entity(partition, "by-us")).metadata["etag"]]


async def test_the_four_kinds_of_write_in_one_group(azurite: str) -> None:
    async with fresh_table(azurite) as table:
        [first] = await submit(
            table, [TableOperation("create", {"PartitionKey": "p", "RowKey": "s", "N": 1})]
        )
        await submit(table, [TableOperation("upsert", {"PartitionKey": "p", "RowKey": "old", "N": 0})])

        etags = await submit(
            table,
            [
                TableOperation("upsert", {"PartitionKey": "p", "RowKey": "a", "N": 2}),
                TableOperation("delete", {"PartitionKey": "p", "RowKey": "old"}),
                TableOperation("merge", {"PartitionKey": "p", "RowKey": "s", "M": 3}, etag=first),
            ],
        )

        rows = {row["RowKey"]: dict(row) async for row in table.list_entities()}
        assert sorted(rows) == ["a", "s"]
        assert rows["s"]["N"] == 1 and rows["s"]["M"] == 3  # merged, not replaced
        assert etags[1] is None  # a delete returns no ETag
        assert etags[2] == (await table.get_entity("p", "s")).metadata["etag"]


async def test_a_stale_etag_rejects_the_whole_group(azurite: str) -> None:
    async with fresh_table(azurite) as table:
        [first] = await submit(
            table, [TableOperation("create", {"PartitionKey": "p", "RowKey": "s", "N": 1})]
        )
        await submit(
            table, [TableOperation("merge", {"PartitionKey": "p", "RowKey": "s", "N": 2}, etag=first)]
        )

        with pytest.raises(TableTransactionFailed) as failure:
            await submit(
                table,
                [
                    TableOperation("upsert", {"PartitionKey": "p", "RowKey": "new"}),
                    TableOperation("merge", {"PartitionKey": "p", "RowKey": "s", "N": 3}, etag=first),
                ],
            )

        assert failure.value.status_code == 412
        assert failure.value.error_code == "UpdateConditionNotSatisfied"
        assert table.table_name in str(failure.value)
        with pytest.raises(ResourceNotFoundError):
            await table.get_entity("p", "new")
        assert (await table.get_entity("p", "s"))["N"] == 2


async def test_creating_a_row_that_exists_fails_with_409(azurite: str) -> None:
    async with fresh_table(azurite) as table:
        await submit(table, [TableOperation("create", {"PartitionKey": "p", "RowKey": "s"})])

        with pytest.raises(TableTransactionFailed) as failure:
            await submit(table, [TableOperation("create", {"PartitionKey": "p", "RowKey": "s"})])

        assert (failure.value.status_code, failure.value.error_code) == (409, "EntityAlreadyExists")


async def test_a_missing_table_is_named_in_the_error(azurite: str) -> None:
    async with TableServiceClient.from_connection_string(azurite) as service:
        missing = service.get_table_client(f"missing{uuid.uuid4().hex[:12]}")
        with pytest.raises(TableTransactionFailed) as failure:
            await submit(missing, [TableOperation("upsert", {"PartitionKey": "p", "RowKey": "r"})])

    assert failure.value.status_code == 404
    assert missing.table_name in str(failure.value)


def test_a_value_no_cell_can_hold_names_its_column() -> None:
    with pytest.raises(TypeError, match="'Payload' holds a list"):
        entity_json({"PartitionKey": "p", "RowKey": "r", "Payload": [1, 2]})


def test_a_failure_outside_any_changeset_is_read_from_the_batch_part() -> None:
    body = (
        b"--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n"
        b'{"odata.error":{"code":"InvalidInput","message":{"value":"0:Bad batch."}}}\r\n'
        b"--batchresponse_1--\r\n"
    )

    [part] = decode_batch_response(body, "multipart/mixed; boundary=batchresponse_1")

    assert (part.status_code, part.error_code, part.message) == (400, "InvalidInput", "0:Bad batch.")
