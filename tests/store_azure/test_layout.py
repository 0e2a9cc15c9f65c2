"""Compatibility on raw storage: what the store writes is DT.AS's layout, and a hub written by hand in
that layout (as .NET would) is read back correctly."""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from azure.data.tables import EdmType
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from durable_ext.engine.history import EventType, HistoryEvent, format_timestamp
from durable_ext.engine.messages import TaskMessage
from durable_ext.engine.orchestration import EpisodeCommit
from durable_ext.engine.status import InstanceState, RuntimeStatus
from durable_ext.store.azure import AzureStorageTaskHubStore
from durable_ext.store.azure.naming import fnv1a_32

from .conftest import StoreMaker, opened

NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
T = format_timestamp(NOW)
BASE = {"PartitionKey": str, "RowKey": str, "EventType": str, "EventId": int, "IsPlayed": bool}
BASE_ROW = {**BASE, "_Timestamp": datetime, "ExecutionId": str}


def column_types(row: Any) -> dict[str, type]:
    """Each column's Python type as azure-data-tables decodes it (Edm.DateTime -> datetime, ...)."""
    types: dict[str, type] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            types[key] = datetime
        elif isinstance(value, bool):
            types[key] = bool
        else:
            types[key] = type(value)
    return types


def control_queue(hub: str, instance_id: str, partitions: int = 4) -> str:
    return f"{hub.lower()}-control-{fnv1a_32(instance_id.encode()) % partitions:02d}"


# -- what the store writes ------------------------------------------------------------------------------
def _state(status: RuntimeStatus, output: str | None = None) -> InstanceState:
    return InstanceState(
        instance_id="chain-1",
        name="Chain",
        execution_id="e" * 32,
        runtime_status=status,
        created_time=NOW,
        last_updated_time=NOW,
        input='"Tokyo"',
        output=output,
        completed_time=NOW if status.is_terminal else None,
    )


def _played(*events: HistoryEvent) -> list[HistoryEvent]:
    return [
        e if e.event_type == EventType.ORCHESTRATOR_STARTED else replace(e, is_played=True) for e in events
    ]


def _os() -> HistoryEvent:
    return HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp=T)


def _oc() -> HistoryEvent:
    return HistoryEvent(EventType.ORCHESTRATOR_COMPLETED, timestamp=T)


def _scheduled(event_id: int) -> HistoryEvent:
    return HistoryEvent(
        EventType.TASK_SCHEDULED, event_id=event_id, timestamp=T, name="SayHello", input='"x"'
    )


async def _run_chain(store: AzureStorageTaskHubStore) -> None:
    """A two-activity chain, episode by episode, through the store's own protocol."""
    start = HistoryEvent(
        EventType.EXECUTION_STARTED,
        timestamp=T,
        name="Chain",
        version="",
        input='"Tokyo"',
        instance_id="chain-1",
        execution_id="e" * 32,
        tags={"team": "a"},
        generation=0,
    )
    await store.start_orchestration(
        _state(RuntimeStatus.PENDING), TaskMessage("chain-1", start, execution_id=start.execution_id)
    )
    running = _state(RuntimeStatus.RUNNING)
    episodes = [
        _played(_os(), start, _scheduled(0), _oc()),
        _played(_os(), HistoryEvent(EventType.TASK_COMPLETED, timestamp=T, task_scheduled_id=0, result="1"))
        + _played(_scheduled(1), _oc()),
        _played(
            _os(),
            HistoryEvent(EventType.TASK_COMPLETED, timestamp=T, task_scheduled_id=1, result="2"),
            HistoryEvent(
                EventType.EXECUTION_COMPLETED,
                event_id=2,
                timestamp=T,
                orchestration_status=1,
                result='"done"',
            ),
            _oc(),
        ),
    ]
    for index, events in enumerate(episodes):
        item = await store.lock_next_orchestration()
        assert item is not None
        last = index == len(episodes) - 1
        outbound = [] if last else [TaskMessage("chain-1", _scheduled(index), execution_id="e" * 32)]
        state = _state(RuntimeStatus.COMPLETED, '"done"') if last else running
        await store.complete_orchestration(
            item, EpisodeCommit(state, events, replaces_history=index == 0, messages=outbound)
        )
        if not last:
            work = await store.lock_next_activity()
            assert work is not None
            result = HistoryEvent(EventType.TASK_COMPLETED, timestamp=T, task_scheduled_id=index, result="1")
            await store.complete_activity(work, TaskMessage("chain-1", result, execution_id="e" * 32))


async def test_history_rows_of_a_chain_have_the_reference_names_keys_and_types(
    make_store: StoreMaker, azurite: str, hub_name: str
) -> None:
    async with opened(make_store) as store:
        await _run_chain(store)

    async with TableServiceClient.from_connection_string(azurite) as tables:
        rows = [r async for r in tables.get_table_client(f"{hub_name}History").list_entities()]
    rows.sort(key=lambda r: r["RowKey"])

    assert [r["RowKey"] for r in rows] == [f"{i:016X}" for i in range(12)] + ["sentinel"]
    assert {r["PartitionKey"] for r in rows} == {"chain-1"}
    events = rows[:-1]
    assert [r["EventType"] for r in events] == [
        "OrchestratorStarted",
        "ExecutionStarted",
        "TaskScheduled",
        "OrchestratorCompleted",
        "OrchestratorStarted",
        "TaskCompleted",
        "TaskScheduled",
        "OrchestratorCompleted",
        "OrchestratorStarted",
        "TaskCompleted",
        "ExecutionCompleted",
        "OrchestratorCompleted",
    ]
    assert [r["EventId"] for r in events] == [-1, -1, 0, -1, -1, -1, 1, -1, -1, -1, 2, -1]
    assert {r["ExecutionId"] for r in events} == {"e" * 32}
    expected_extra: dict[str, dict[str, type]] = {
        "OrchestratorStarted": {},
        "OrchestratorCompleted": {},
        "ExecutionStarted": {
            "OrchestrationInstance": str,
            "Name": str,
            "Version": str,
            "Input": str,
            "Tags": str,
            "Generation": int,
        },
        "TaskScheduled": {"Name": str, "Input": str},
        "TaskCompleted": {"TaskScheduledId": int, "Result": str},
        "ExecutionCompleted": {"OrchestrationStatus": str, "Result": str},
    }
    for row in events:
        assert column_types(row) == {**BASE_ROW, **expected_extra[row["EventType"]]}, row["EventType"]
    started = events[1]
    assert json.loads(started["OrchestrationInstance"]) == {"InstanceId": "chain-1", "ExecutionId": "e" * 32}
    assert json.loads(started["Tags"]) == {"team": "a"}
    assert events[5]["TaskScheduledId"] == 0 and events[9]["TaskScheduledId"] == 1
    assert events[10]["OrchestrationStatus"] == "Completed"
    assert [r["IsPlayed"] for r in events[:4]] == [False, True, True, True]
    assert events[0]["_Timestamp"].tables_service_value.startswith("2024-05-06T07:08:09.123456")
    sentinel = rows[-1]
    assert column_types(sentinel) == {
        "PartitionKey": str,
        "RowKey": str,
        "ExecutionId": str,
        "IsCheckpointComplete": bool,
        "CheckpointCompletedTimestamp": datetime,
    }
    assert sentinel["IsCheckpointComplete"] is True


async def test_the_instances_row_has_the_reference_columns(
    make_store: StoreMaker, azurite: str, hub_name: str
) -> None:
    async with opened(make_store) as store:
        await _run_chain(store)

    async with TableServiceClient.from_connection_string(azurite) as tables:
        row = await tables.get_table_client(f"{hub_name}Instances").get_entity("chain-1", "")

    assert column_types(row) == {
        "PartitionKey": str,
        "RowKey": str,
        "ExecutionId": str,
        "Name": str,
        "Version": str,
        "Input": str,
        "Output": str,
        "CustomStatus": str,
        "CreatedTime": datetime,
        "LastUpdatedTime": datetime,
        "CompletedTime": datetime,
        "RuntimeStatus": str,
        "Generation": int,
        "Tags": str,
        "TaskHubName": str,
    }
    assert (row["RuntimeStatus"], row["Output"], row["CustomStatus"]) == ("Completed", '"done"', "null")
    assert (row["TaskHubName"], row["Generation"], json.loads(row["Tags"])) == (hub_name, 0, {"team": "a"})


async def test_a_start_message_on_the_control_queue_has_the_envelope_shape(
    make_store: StoreMaker, azurite: str, hub_name: str
) -> None:
    # A client's start (a worker that owns the partition keeps its own starts hidden for itself).
    async with opened(make_store, client_only=True) as store:
        start = HistoryEvent(
            EventType.EXECUTION_STARTED,
            timestamp=T,
            name="Chain",
            version="",
            input='"Tokyo"',
            instance_id="chain-1",
            execution_id="e" * 32,
        )
        await store.start_orchestration(
            _state(RuntimeStatus.PENDING), TaskMessage("chain-1", start, execution_id="e" * 32)
        )

        async with QueueServiceClient.from_connection_string(azurite) as queues:
            peeked = await queues.get_queue_client(control_queue(hub_name, "chain-1")).peek_messages(32)

    assert len(peeked) == 1
    body = peeked[0].content
    assert body.startswith("{")  # UTF-8 JSON, not Base64
    data = json.loads(body)
    assert list(data)[0] == "$type" and data["$type"] == "DurableTask.AzureStorage.MessageData"
    assert "Episode" not in data  # a client message has no episode
    assert data["Sender"] == {"InstanceId": "", "ExecutionId": ""}
    assert isinstance(data["SequenceNumber"], int)
    task = data["TaskMessage"]
    assert task["$type"] == "DurableTask.Core.TaskMessage"
    assert task["OrchestrationInstance"]["InstanceId"] == "chain-1"
    event = task["Event"]
    assert list(event)[0] == "$type" and event["$type"] == "DurableTask.Core.History.ExecutionStartedEvent"
    assert (event["EventType"], event["EventId"], event["Name"], event["Input"]) == (
        0,
        -1,
        "Chain",
        '"Tokyo"',
    )


async def test_partition_rows_name_the_owner(make_store: StoreMaker, azurite: str, hub_name: str) -> None:
    async with (
        opened(make_store, worker_id="worker-a"),
        TableServiceClient.from_connection_string(azurite) as tables,
    ):
        rows = [r async for r in tables.get_table_client(f"{hub_name}Partitions").list_entities()]

    assert sorted(r["RowKey"] for r in rows) == [f"{hub_name.lower()}-control-0{i}" for i in range(4)]
    for row in rows:
        assert row["PartitionKey"] == ""
        assert row["CurrentOwner"] == "worker-a"
        assert row["IsDraining"] is False
        assert isinstance(row["ExpiresAt"], datetime) and isinstance(row["OwnedSince"], datetime)


# -- a hub written by hand, as .NET writes it ---------------------------------------------------------------
SEED_ID = "seed/1"  # escaped as seed^01
SEED_PK = "seed^01"
EXEC = "aae324dcc8f943e490b37ec5e5bbf9da"
OLD_EXEC = "0000000000000000000000000000000f"
BIG_RESULT = '"' + "résultat " * 9000 + '"'


def _dt(text: str) -> tuple[str, EdmType]:
    return (text, EdmType.DATETIME)


def _seed_history_rows() -> list[dict[str, Any]]:
    def row(seq: int, event_type: str, execution: str = EXEC, **columns: Any) -> dict[str, Any]:
        base = {
            "PartitionKey": SEED_PK,
            "RowKey": f"{seq:016X}",
            "ExecutionId": execution,
            "EventType": event_type,
            "EventId": -1,
            "IsPlayed": False,
            "_Timestamp": _dt("2024-05-06T07:08:09.1234567Z"),
        }
        return {**base, **columns}

    return [
        row(0, "OrchestratorStarted"),
        row(
            1,
            "ExecutionStarted",
            IsPlayed=True,
            OrchestrationInstance=json.dumps({"InstanceId": SEED_ID, "ExecutionId": EXEC}),
            Name="Hello",
            Version="",
            Input='"Tokyo"',
            Generation=0,
        ),
        row(2, "TaskScheduled", EventId=0, IsPlayed=True, Name="SayHello"),
        row(3, "OrchestratorCompleted", IsPlayed=True),
        row(4, "OrchestratorStarted"),
        row(
            5,
            "TaskCompleted",
            IsPlayed=True,
            TaskScheduledId=0,
            Result="",
            ResultBlobName="seed^01/big.json.gz",
        ),
        row(6, "TimerCreated", EventId=1, IsPlayed=True, FireAt=_dt("2024-05-06T08:00:00.0000000Z")),
        row(7, "OrchestratorCompleted", IsPlayed=True),
        row(8, "OrchestratorCompleted", execution=OLD_EXEC),  # left over by an older, longer execution
        {"PartitionKey": SEED_PK, "RowKey": "sentinel", "ExecutionId": EXEC, "IsCheckpointComplete": True},
    ]


def _seed_expected_history() -> list[HistoryEvent]:
    t = "2024-05-06T07:08:09.1234567Z"
    return [
        HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp=t),
        HistoryEvent(
            EventType.EXECUTION_STARTED,
            timestamp=t,
            is_played=True,
            name="Hello",
            version="",
            input='"Tokyo"',
            instance_id=SEED_ID,
            execution_id=EXEC,
            generation=0,
        ),
        HistoryEvent(EventType.TASK_SCHEDULED, event_id=0, timestamp=t, is_played=True, name="SayHello"),
        HistoryEvent(EventType.ORCHESTRATOR_COMPLETED, timestamp=t, is_played=True),
        HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp=t),
        HistoryEvent(
            EventType.TASK_COMPLETED, timestamp=t, is_played=True, task_scheduled_id=0, result=BIG_RESULT
        ),
        HistoryEvent(
            EventType.TIMER_CREATED, event_id=1, timestamp=t, is_played=True, fire_at="2024-05-06T08:00:00Z"
        ),
        HistoryEvent(EventType.ORCHESTRATOR_COMPLETED, timestamp=t, is_played=True),
    ]


def _seed_message(name: str) -> str:
    event = {
        "$type": "DurableTask.Core.History.EventRaisedEvent",
        "EventType": 15,
        "Name": name,
        "Input": '{"ok":true}',
        "EventId": -1,
        "IsPlayed": False,
        "Timestamp": "2024-05-06T07:09:00.7654321Z",
    }
    return json.dumps(
        {
            "$type": "DurableTask.AzureStorage.MessageData",
            "ActivityId": "5406d369-4369-4673-afae-6671a2fa1e57",
            "TaskMessage": {
                "$type": "DurableTask.Core.TaskMessage",
                "Event": event,
                "SequenceNumber": 0,
                "OrchestrationInstance": {
                    "$type": "DurableTask.Core.OrchestrationInstance",
                    "InstanceId": SEED_ID,
                    "ExecutionId": None,
                },
            },
            "CompressedBlobName": None,
            "SequenceNumber": 7,
            "Sender": {"InstanceId": "", "ExecutionId": ""},
            "SerializableTraceContext": None,
        }
    )


async def _seed_hub(connection: str, hub: str) -> None:
    async with TableServiceClient.from_connection_string(connection) as tables:
        for suffix in ("History", "Instances"):
            await tables.create_table(f"{hub}{suffix}")
        history = tables.get_table_client(f"{hub}History")
        for entity in _seed_history_rows():
            await history.create_entity(entity)
        await tables.get_table_client(f"{hub}Instances").create_entity(
            {
                "PartitionKey": SEED_PK,
                "RowKey": "",
                "ExecutionId": EXEC,
                "Name": "Hello",
                "Version": "",
                "Input": '"Tokyo"',
                "CustomStatus": "null",
                "CreatedTime": _dt("2024-05-06T07:08:09.1234567Z"),
                "LastUpdatedTime": _dt("2024-05-06T07:08:10.0000000Z"),
                "RuntimeStatus": "Running",
                "Generation": 0,
                "Tags": "null",
                "TaskHubName": hub,
            }
        )
    async with BlobServiceClient.from_connection_string(connection) as blobs:
        container = blobs.get_container_client(f"{hub.lower()}-largemessages")
        await container.create_container()
        await container.upload_blob("seed^01/big.json.gz", gzip.compress(BIG_RESULT.encode("utf-8")))
    async with QueueServiceClient.from_connection_string(connection) as queues:
        queue = queues.get_queue_client(control_queue(hub, SEED_ID))
        await queue.create_queue()
        await queue.send_message(_seed_message("First"))
        # DT.AS 1.x wrote Base64 bodies.
        await queue.send_message(base64.b64encode(_seed_message("Second").encode()).decode())


async def test_a_hub_written_by_hand_in_the_reference_format_is_read(
    make_store: StoreMaker, azurite: str, hub_name: str
) -> None:
    await _seed_hub(azurite, hub_name)

    async with opened(make_store) as store:
        item = await store.lock_next_orchestration()
        assert item is not None
        assert item.instance_id == SEED_ID
        assert item.instance == InstanceState(
            instance_id=SEED_ID,
            name="Hello",
            execution_id=EXEC,
            runtime_status=RuntimeStatus.RUNNING,
            created_time=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc),
            last_updated_time=datetime(2024, 5, 6, 7, 8, 10, tzinfo=timezone.utc),
            input='"Tokyo"',
        )
        assert item.history == _seed_expected_history()
        assert [(m.instance_id, m.execution_id) for m in item.messages] == [(SEED_ID, None), (SEED_ID, None)]
        assert [m.event.name for m in item.messages] == ["First", "Second"]
        first = item.messages[0].event
        assert (first.event_type, first.input, first.timestamp) == (
            EventType.EVENT_RAISED,
            '{"ok":true}',
            "2024-05-06T07:09:00.7654321Z",
        )
        assert await store.get_history(SEED_ID) == _seed_expected_history()

        # Appending continues after the seeded rows, under the seeded sentinel's ETag.
        more = [HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp=T)]
        assert item.instance is not None
        await store.complete_orchestration(item, EpisodeCommit(item.instance, more, False, []))
        assert await store.get_history(SEED_ID) == [*_seed_expected_history(), *more]


# -- large payloads --------------------------------------------------------------------------------------
BIG = '"' + "é✓𝄞 " * 20_000 + '"'  # ~200 KB of JSON text


async def test_large_payloads_go_to_gzip_blobs_as_dtas_names_them(
    make_store: StoreMaker, azurite: str, hub_name: str
) -> None:
    state = replace(_state(RuntimeStatus.PENDING), input=BIG)
    start = HistoryEvent(
        EventType.EXECUTION_STARTED,
        timestamp=T,
        name="Chain",
        version="",
        input=BIG,
        instance_id="chain-1",
        execution_id="e" * 32,
    )
    container = f"{hub_name.lower()}-largemessages"
    async with opened(make_store) as store, opened(make_store, client_only=True) as client:
        await client.start_orchestration(state, TaskMessage("chain-1", start, execution_id="e" * 32))
        async with QueueServiceClient.from_connection_string(azurite) as queues:
            peeked = await queues.get_queue_client(control_queue(hub_name, "chain-1")).peek_messages(1)
        wrapper = json.loads(peeked[0].content)
        assert wrapper["TaskMessage"] is None
        blob_name = wrapper["CompressedBlobName"]
        assert blob_name.startswith("chain-1/message-") and blob_name.endswith("-ExecutionStarted.json.gz")
        async with TableServiceClient.from_connection_string(azurite) as tables:
            pending_row = await tables.get_table_client(f"{hub_name}Instances").get_entity("chain-1", "")
        assert (
            pending_row["Input"]
            == f"{azurite.split('BlobEndpoint=')[1].split(';')[0]}/{container}/{blob_name}"
        )
        assert await store.get_instance("chain-1") == state

        item = await store.lock_next_orchestration()
        assert item is not None and item.messages[0].event.input == BIG
        done = replace(_state(RuntimeStatus.COMPLETED), input=BIG, output=BIG)
        events = _played(
            _os(),
            start,
            HistoryEvent(
                EventType.EXECUTION_COMPLETED, event_id=0, timestamp=T, orchestration_status=1, result=BIG
            ),
            _oc(),
        )
        await store.complete_orchestration(item, EpisodeCommit(done, events, True, []))
        assert await store.get_history("chain-1") == events
        assert await store.get_instance("chain-1") == done

    async with TableServiceClient.from_connection_string(azurite) as tables:
        started = await tables.get_table_client(f"{hub_name}History").get_entity("chain-1", f"{1:016X}")
        row = await tables.get_table_client(f"{hub_name}Instances").get_entity("chain-1", "")
    assert started["Input"] == ""
    assert started["InputBlobName"].startswith("chain-1/history-0000000000000001-ExecutionStarted-")
    assert started["InputBlobName"].endswith("-Input.json.gz")
    assert row["Output"].startswith("http://") and row["Output"].endswith("-Result.json.gz")
    async with BlobServiceClient.from_connection_string(azurite) as blobs:
        stream = await blobs.get_container_client(container).download_blob(started["InputBlobName"])
        assert gzip.decompress(await stream.readall()).decode("utf-8") == BIG
