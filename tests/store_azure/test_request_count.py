"""The request-count policy on real requests to Azurite: every client the store makes counts, by service
and method, retries count once per try, and labelled blocks count apart."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from durable_ext.store.azure.request_count import (
    REQUESTS,
    RequestCounts,
    RequestKind,
    RequestTally,
    counted,
    labelled,
)

from .conftest import StoreMaker


async def test_each_service_counts_its_requests_by_method(azurite: str) -> None:
    tally = RequestTally()
    name = f"count{uuid.uuid4().hex[:12]}"
    async with QueueServiceClient.from_connection_string(azurite, **counted("queue", tally)) as queues:
        queue = queues.get_queue_client(name)  # a client handed out by the service client counts too
        await queue.create_queue()
        for _ in range(3):
            await queue.send_message("m")
        await queue.delete_queue()
    async with TableServiceClient.from_connection_string(azurite, **counted("table", tally)) as tables:
        await tables.create_table(name)
        table = tables.get_table_client(name)
        await table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "n": 1})
        await table.get_entity("p", "r")
        await tables.delete_table(name)
        await table.close()
    async with BlobServiceClient.from_connection_string(azurite, **counted("blob", tally)) as blobs:
        container = blobs.get_container_client(name)
        await container.create_container()
        await container.delete_container()

    counts = tally.snapshot()
    assert counts.as_dict() == {
        "blob DELETE": 1,
        "blob PUT": 1,
        "queue DELETE": 1,
        "queue POST": 3,
        "queue PUT": 1,
        "table DELETE": 1,
        "table GET": 1,
        "table PATCH": 1,
        "table POST": 1,
    }
    assert counts.total() == 11


async def test_a_retried_request_counts_once_per_try() -> None:
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tally = RequestTally()
    connection = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    retries = {"retry_total": 2, "initial_backoff": 0, "increment_base": 0, "random_jitter_range": 0}
    queue = QueueClient.from_connection_string(connection, "q", **retries, **counted("queue", tally))
    async with queue:
        with pytest.raises(ServiceRequestError):
            await queue.send_message("m")
    assert tally.snapshot().as_dict() == {"queue POST": 3}


async def test_labelled_requests_count_apart_including_tasks_started_inside(azurite: str) -> None:
    tally = RequestTally()
    async with QueueServiceClient.from_connection_string(azurite, **counted("queue", tally)) as queues:
        await queues.get_service_properties()
        with labelled("probe"):
            await asyncio.gather(*(asyncio.create_task(queues.get_service_properties()) for _ in range(2)))
        await queues.get_service_properties()

    counts = tally.snapshot()
    assert counts.total() == 2
    assert counts.total("probe") == 2
    assert counts.total(None) == 4
    assert counts.as_dict(None) == {"queue GET": 2, "probe:queue GET": 2}


async def test_the_store_counts_its_requests_in_the_process_wide_tally(make_store: StoreMaker) -> None:
    store = make_store(client_only=True)  # no partition leases: no requests in the background
    label = f"test-{uuid.uuid4().hex}"  # apart from anything else this process sends meanwhile
    before = REQUESTS.snapshot()
    try:
        with labelled(label):
            await store.open()  # the History and Instances tables, 4 control queues and the work-item queue
            opened = REQUESTS.snapshot()
            assert await store.get_instance("missing") is None
    finally:
        await store.close()

    assert (opened - before).as_dict(label) == {"queue PUT": 5, "table POST": 2}
    assert (REQUESTS.snapshot() - opened).as_dict(label) == {"table GET": 1}


def test_counts_subtract_and_drop_kinds_that_did_not_change() -> None:
    get, put = RequestKind("", "queue", "GET"), RequestKind("", "queue", "PUT")
    earlier = RequestCounts({get: 2, put: 1})
    later = RequestCounts({get: 5, put: 1, RequestKind("probe", "table", "GET"): 4})

    spent = later - earlier

    assert spent.by_kind == {get: 3, RequestKind("probe", "table", "GET"): 4}
    assert spent.total() == 3
    assert spent.total("probe") == 4
