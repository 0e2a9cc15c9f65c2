"""The queue message envelope: DT.AS's MessageData JSON, written and read (no Azurite needed)."""

from __future__ import annotations

import base64
import json

import pytest

from durable_ext.engine.history import EventType, HistoryEvent
from durable_ext.engine.messages import TaskMessage
from durable_ext.store.azure.envelope import (
    TAGS_TYPE,
    Envelope,
    EnvelopeError,
    decode,
    encode,
    next_sequence_number,
    wrapper,
)

START = HistoryEvent(
    EventType.EXECUTION_STARTED,
    timestamp="2024-05-06T07:08:09.123456Z",
    name="Greeter",
    version="",
    input='"Tokyo"',
    instance_id="order-1",
    execution_id="0123456789abcdef0123456789abcdef",
    tags={"team": "a"},
    generation=0,
)
COMPLETED = HistoryEvent(
    EventType.TASK_COMPLETED, timestamp="2024-05-06T07:08:10Z", task_scheduled_id=3, result='"Hello ✓"'
)

# A client start as DT.AS 2.x (.NET) writes it: `$type` on objects, 7-digit times, mscorlib tags type.
DOTNET_START = (
    '{"$type":"DurableTask.AzureStorage.MessageData","ActivityId":"5406d369-4369-4673-afae-6671a2fa1e57",'
    '"TaskMessage":{"$type":"DurableTask.Core.TaskMessage","Event":{"$type":'
    '"DurableTask.Core.History.ExecutionStartedEvent","OrchestrationInstance":{"$type":'
    '"DurableTask.Core.OrchestrationInstance","InstanceId":"inst-1","ExecutionId":'
    '"aae324dcc8f943e490b37ec5e5bbf9da"},"EventType":0,"ParentInstance":null,"Name":"Hello",'
    '"Version":"","Input":"\\"Tokyo\\"","Tags":{"$type":"System.Collections.Generic.Dictionary`2'
    '[[System.String, mscorlib],[System.String, mscorlib]]","tag1":"v"},"Correlation":null,'
    '"ScheduledStartTime":null,"Generation":0,"EventId":-1,"IsPlayed":false,'
    '"Timestamp":"2023-03-24T20:53:05.9093518Z"},"SequenceNumber":0,"OrchestrationInstance":{"$type":'
    '"DurableTask.Core.OrchestrationInstance","InstanceId":"inst-1","ExecutionId":'
    '"aae324dcc8f943e490b37ec5e5bbf9da"}},"CompressedBlobName":null,"SequenceNumber":40,'
    '"Sender":{"InstanceId":"","ExecutionId":""},"SerializableTraceContext":null}\r\n\r\n'
)


def test_a_client_message_has_the_message_data_shape() -> None:
    envelope = Envelope.new(TaskMessage("order-1", START, execution_id=START.execution_id))
    data = json.loads(encode(envelope))

    assert list(data) == [
        "$type",
        "ActivityId",
        "TaskMessage",
        "CompressedBlobName",
        "SequenceNumber",
        "Sender",
        "SerializableTraceContext",
    ]
    assert data["$type"] == "DurableTask.AzureStorage.MessageData"
    assert len(data["ActivityId"]) == 36 and data["ActivityId"].count("-") == 4
    assert data["Sender"] == {"InstanceId": "", "ExecutionId": ""}
    assert data["CompressedBlobName"] is None and data["SerializableTraceContext"] is None
    task = data["TaskMessage"]
    assert list(task)[:2] == ["$type", "Event"]
    assert task["$type"] == "DurableTask.Core.TaskMessage"
    assert task["SequenceNumber"] == 0
    assert task["OrchestrationInstance"] == {
        "$type": "DurableTask.Core.OrchestrationInstance",
        "InstanceId": "order-1",
        "ExecutionId": START.execution_id,
    }
    event = task["Event"]
    assert next(iter(event)) == "$type"
    assert event["$type"] == "DurableTask.Core.History.ExecutionStartedEvent"
    assert event["EventType"] == 0  # enums are integers on the queue
    assert event["Timestamp"] == "2024-05-06T07:08:09.123456Z"
    assert event["OrchestrationInstance"]["$type"] == "DurableTask.Core.OrchestrationInstance"
    assert event["Tags"] == {"$type": TAGS_TYPE, "team": "a"}


def test_an_orchestration_message_carries_episode_and_sender() -> None:
    envelope = Envelope.new(
        TaskMessage("parent", COMPLETED, execution_id="e1"), episode=3, sender=("parent", "e1")
    )
    data = json.loads(encode(envelope))

    assert data["Episode"] == 3
    assert data["Sender"] == {"InstanceId": "parent", "ExecutionId": "e1"}
    assert data["TaskMessage"]["Event"]["$type"] == "DurableTask.Core.History.TaskCompletedEvent"


def test_activity_messages_carry_the_orchestration_tags() -> None:
    scheduled = HistoryEvent(EventType.TASK_SCHEDULED, event_id=0, name="SayHello", input="1")
    envelope = Envelope.new(TaskMessage("o", scheduled, execution_id="e"), orchestration_tags={"k": "v"})
    context = json.loads(encode(envelope))["TaskMessage"]["OrchestrationExecutionContext"]

    assert context["$type"] == "DurableTask.Core.OrchestrationExecutionContext"
    assert context["OrchestrationTags"] == {"$type": TAGS_TYPE, "k": "v"}
    assert decode(encode(envelope)).orchestration_tags == {"k": "v"}


def test_generic_events_keep_their_class_name() -> None:
    event = HistoryEvent(EventType.GENERIC_EVENT, extras={"Data": "x"})
    data = json.loads(encode(Envelope.new(TaskMessage("o", event))))
    assert data["TaskMessage"]["Event"]["$type"] == "DurableTask.Core.History.GenericEvent"


def test_the_body_is_utf8_json_not_base64() -> None:
    text = encode(Envelope.new(TaskMessage("o", COMPLETED)))
    assert text.startswith("{")
    assert "✓" in text  # non-ASCII stays as is, as Newtonsoft writes it


@pytest.mark.parametrize(
    "message",
    [
        TaskMessage("order-1", START, execution_id=START.execution_id),
        TaskMessage("zoë/1", COMPLETED, execution_id=None),
        TaskMessage("o", HistoryEvent(EventType.EVENT_RAISED, name="Approval", input="true")),
        TaskMessage(
            "o",
            HistoryEvent(
                EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                task_scheduled_id=1,
                reason="boom",
                failure_details={"ErrorType": "E", "ErrorMessage": "m", "InnerFailure": {"ErrorType": "I"}},
            ),
        ),
        TaskMessage(
            "child",
            HistoryEvent(
                EventType.EXECUTION_STARTED,
                version="",
                instance_id="child",
                execution_id="c",
                parent_instance={
                    "Name": "Parent",
                    "OrchestrationInstance": {"InstanceId": "p", "ExecutionId": "pe"},
                    "TaskScheduleId": 2,
                    "Version": "",
                },
            ),
        ),
    ],
    ids=["start", "completed", "raised", "failed", "sub-start"],
)
def test_messages_round_trip(message: TaskMessage) -> None:
    envelope = Envelope.new(message, episode=2, sender=("s", "se"))

    back = decode(encode(envelope))

    assert back.message == message
    assert (back.episode, back.sender, back.sequence_number) == (2, ("s", "se"), envelope.sequence_number)
    assert back.activity_id == envelope.activity_id


def test_an_event_without_timestamp_goes_out_as_dotnet_default_and_comes_back_empty() -> None:
    event = HistoryEvent(EventType.TASK_SCHEDULED, event_id=0, name="A")
    data = json.loads(encode(Envelope.new(TaskMessage("o", event))))
    assert data["TaskMessage"]["Event"]["Timestamp"] == "0001-01-01T00:00:00"
    back = decode(encode(Envelope.new(TaskMessage("o", event))))
    assert back.message is not None and back.message.event == event


def test_a_dotnet_written_message_is_read() -> None:
    envelope = decode(DOTNET_START)

    assert envelope.sequence_number == 40
    assert envelope.sender == ("", "")
    assert envelope.episode is None
    message = envelope.message
    assert message is not None
    assert (message.instance_id, message.execution_id) == ("inst-1", "aae324dcc8f943e490b37ec5e5bbf9da")
    event = message.event
    assert event.event_type == EventType.EXECUTION_STARTED
    assert (event.name, event.input, event.tags) == ("Hello", '"Tokyo"', {"tag1": "v"})
    assert event.timestamp == "2023-03-24T20:53:05.9093518Z"
    assert event.instance_id == "inst-1"


def test_base64_bodies_of_dtas_1x_are_read() -> None:
    body = base64.b64encode(DOTNET_START.encode("utf-8")).decode("ascii")
    message = decode(body).message
    assert message is not None and message.instance_id == "inst-1"


def test_the_large_message_wrapper_holds_only_the_blob_name() -> None:
    data = json.loads(encode(wrapper("order-1/message-abc-ExecutionStarted.json.gz")))

    assert data == {
        "$type": "DurableTask.AzureStorage.MessageData",
        "ActivityId": "00000000-0000-0000-0000-000000000000",
        "TaskMessage": None,
        "CompressedBlobName": "order-1/message-abc-ExecutionStarted.json.gz",
        "SequenceNumber": 0,
        "SerializableTraceContext": None,
    }


def test_sequence_numbers_increase() -> None:
    first = next_sequence_number()
    assert next_sequence_number() > first


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"TaskMessage": {"Event": {}}}', "%%%"])
def test_garbage_is_an_envelope_error(body: str) -> None:
    with pytest.raises(EnvelopeError):
        decode(body)
