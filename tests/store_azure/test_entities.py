"""History events as History-table columns (no Azurite needed; the Azurite tests read them back)."""

from __future__ import annotations

import json

import pytest
from azure.data.tables import EdmType

from durable_ext.engine.history import EventType, HistoryEvent
from durable_ext.store.azure.entities import datetime_text, entity_to_event, event_to_entity

T = "2024-05-06T07:08:09.123456Z"


def test_base_columns_of_every_event() -> None:
    row = event_to_entity(HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp=T))

    assert row == {
        "EventType": "OrchestratorStarted",
        "EventId": -1,
        "IsPlayed": False,
        "_Timestamp": ("2024-05-06T07:08:09.1234560Z", EdmType.DATETIME),
    }


def test_execution_started_columns() -> None:
    event = HistoryEvent(
        EventType.EXECUTION_STARTED,
        timestamp=T,
        name="Greeter",
        version="1.0",
        input='"Tokyo"',
        instance_id="order-1",
        execution_id="e1",
        tags={"team": "a"},
        generation=0,
        parent_instance={"Name": "P", "OrchestrationInstance": {"InstanceId": "p", "ExecutionId": "pe"}},
        scheduled_start_time="2024-05-06T08:00:00Z",
    )
    row = event_to_entity(event)

    assert row["EventType"] == "ExecutionStarted"
    assert json.loads(row["OrchestrationInstance"]) == {"InstanceId": "order-1", "ExecutionId": "e1"}
    assert json.loads(row["ParentInstance"])["OrchestrationInstance"]["InstanceId"] == "p"
    assert "$type" not in row["ParentInstance"]
    assert json.loads(row["Tags"]) == {"team": "a"}
    assert (row["Name"], row["Version"], row["Input"], row["Generation"]) == ("Greeter", "1.0", '"Tokyo"', 0)
    assert row["ScheduledStartTime"] == ("2024-05-06T08:00:00.0000000Z", EdmType.DATETIME)
    assert "InstanceId" not in row and "ExecutionId" not in row


def test_completion_columns_use_enum_names_and_ids() -> None:
    completed = event_to_entity(
        HistoryEvent(EventType.EXECUTION_COMPLETED, event_id=2, orchestration_status=1, result='"done"')
    )
    assert completed["OrchestrationStatus"] == "Completed"
    assert completed["Result"] == '"done"'

    failed = event_to_entity(
        HistoryEvent(
            EventType.TASK_FAILED,
            task_scheduled_id=4,
            reason="boom",
            details="trace",
            failure_details={"ErrorType": "ValueError", "ErrorMessage": "boom"},
        )
    )
    assert failed["TaskScheduledId"] == 4
    assert json.loads(failed["FailureDetails"]) == {"ErrorType": "ValueError", "ErrorMessage": "boom"}

    fired = event_to_entity(HistoryEvent(EventType.TIMER_FIRED, timer_id=1, fire_at="2024-05-06T07:09:00Z"))
    assert fired["TimerId"] == 1
    assert fired["FireAt"] == ("2024-05-06T07:09:00.0000000Z", EdmType.DATETIME)

    sent = event_to_entity(HistoryEvent(EventType.EVENT_SENT, event_id=0, instance_id="other", name="op"))
    assert sent["InstanceId"] == "other"


def test_absent_values_are_not_written() -> None:
    row = event_to_entity(HistoryEvent(EventType.TASK_SCHEDULED, event_id=0, name="A"))
    assert set(row) == {"EventType", "EventId", "IsPlayed", "Name"}


def test_a_time_text_that_would_not_read_back_identical_is_kept_as_text() -> None:
    row = event_to_entity(HistoryEvent(EventType.TIMER_CREATED, fire_at="2024-05-06T07:09:00+02:00"))
    assert row["FireAt"] == "2024-05-06T07:09:00+02:00"


class _ServiceTime:
    """What azure-data-tables hands back for an Edm.DateTime: a datetime with the service's text."""

    def __init__(self, text: str) -> None:
        from datetime import datetime, timezone

        self.tables_service_value = text
        whole, _, fraction = text.rstrip("Z").partition(".")
        moment = datetime.fromisoformat(whole).replace(tzinfo=timezone.utc)
        self.value = moment.replace(microsecond=int((fraction or "0")[:6].ljust(6, "0")))

    def __getattr__(self, name: str) -> object:
        return getattr(self.value, name)


def _as_read(row: dict[str, object]) -> dict[str, object]:
    """The row as the SDK returns it: typed tuples become their values."""
    out: dict[str, object] = {}
    for key, value in row.items():
        if isinstance(value, tuple) and value[1] == EdmType.DATETIME:
            out[key] = _ServiceTime(value[0])
        else:
            out[key] = value
    return out


@pytest.mark.parametrize(
    "event",
    [
        HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp=T),
        HistoryEvent(EventType.ORCHESTRATOR_COMPLETED, timestamp="2024-05-06T07:08:09Z", is_played=True),
        HistoryEvent(
            EventType.EXECUTION_STARTED,
            timestamp=T,
            name="G",
            version="",
            input="1",
            instance_id="i",
            execution_id="e",
            tags={"a": "b"},
        ),
        HistoryEvent(EventType.TASK_SCHEDULED, event_id=0, name="A", input='"x"', is_played=True),
        HistoryEvent(EventType.TIMER_CREATED, event_id=1, timestamp=T, fire_at="2024-05-06T07:09:00.5Z"),
        HistoryEvent(EventType.EXECUTION_COMPLETED, event_id=2, orchestration_status=3, result="boom"),
        HistoryEvent(EventType.GENERIC_EVENT, timestamp=T, extras={"Data": "Rewound: TaskFailed A"}),
        HistoryEvent(EventType.EXECUTION_REWOUND, reason="r", extras={"ParentExecutionId": "p", "N": 3}),
    ],
    ids=lambda e: e.event_type.dtfx_name,
)
def test_rows_read_back_as_the_same_event(event: HistoryEvent) -> None:
    assert entity_to_event(_as_read(event_to_entity(event))) == event


def test_seven_digit_dotnet_times_are_kept() -> None:
    row = {"EventType": "OrchestratorStarted", "EventId": -1, "IsPlayed": False}
    row["_Timestamp"] = _ServiceTime("2023-03-24T20:53:05.9093518Z")
    assert entity_to_event(row).timestamp == "2023-03-24T20:53:05.9093518Z"


def test_datetime_text_has_seven_fraction_digits() -> None:
    from datetime import datetime, timezone

    moment = datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=timezone.utc)
    assert datetime_text(moment) == "2024-05-06T07:08:09.1200000Z"
