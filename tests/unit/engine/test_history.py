from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from durable_ext.engine.history import (
    EventType,
    HistoryEvent,
    JoinedHistory,
    dumps_event,
    event_from_json,
    event_to_json,
    format_timestamp,
    parse_timestamp,
)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 1, 1, tzinfo=timezone.utc), "2024-01-01T00:00:00Z"),
        (datetime(2024, 1, 1, 0, 0, 0, 120000, tzinfo=timezone.utc), "2024-01-01T00:00:00.12Z"),
        (datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc), "2024-01-01T00:00:00.123456Z"),
    ],
)
def test_format_matches_dotnet_round_trip(moment: datetime, text: str) -> None:
    assert format_timestamp(moment) == text
    assert parse_timestamp(text) == moment


def test_parse_accepts_seven_digits_naive_and_offsets() -> None:
    assert parse_timestamp("2024-01-01T00:00:00.1234567Z").microsecond == 123456
    assert parse_timestamp("2024-01-01T00:00:00").tzinfo == timezone.utc
    assert parse_timestamp("2024-01-01T02:00:00+02:00") == datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_event_type_names() -> None:
    assert EventType.SUB_ORCHESTRATION_INSTANCE_CREATED.dtfx_name == "SubOrchestrationInstanceCreated"
    assert EventType.EXECUTION_STARTED.value == 0 and EventType.EXECUTION_REWOUND.value == 21


def test_with_played_copies_the_event_and_its_json_shows_the_new_flag() -> None:
    event = HistoryEvent(EventType.TASK_SCHEDULED, event_id=3, timestamp="2024-05-06T07:08:09Z", name="Hello")
    assert '"IsPlayed":false' in dumps_event(event)  # caches the text on the event
    played = event.with_played(True)
    assert played.is_played and not event.is_played
    assert played == replace(event, is_played=True)
    assert '"IsPlayed":true' in dumps_event(played)
    assert event.with_played(False) is event


def test_format_timestamp_pads_every_field() -> None:
    assert format_timestamp(datetime(1, 2, 3, 4, 5, 6)) == "0001-02-03T04:05:06Z"
    moment = datetime(2024, 12, 31, 23, 59, 59, 100000, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2024-12-31T21:59:59.1Z"


def test_event_from_json_keeps_unknown_keys_drops_nulls_and_reads_the_instance() -> None:
    data = {
        "EventType": "TaskCompleted",
        "EventId": 4,
        "Timestamp": "2024-05-06T07:08:09Z",
        "IsPlayed": True,
        "TaskScheduledId": 3,
        "Result": None,
        "InstanceId": "abc",
        "Correlation": {"x": 1},
    }
    event = event_from_json(data)
    assert event == HistoryEvent(
        EventType.TASK_COMPLETED,
        event_id=4,
        timestamp="2024-05-06T07:08:09Z",
        is_played=True,
        task_scheduled_id=3,
        instance_id="abc",
        extras={"Correlation": {"x": 1}},
    )
    started = HistoryEvent(
        EventType.EXECUTION_STARTED, name="o", input='"x"', instance_id="i", execution_id="e", tags={"t": "1"}
    )
    again = event_from_json(event_to_json(started))
    assert (again.instance_id, again.execution_id, again.tags, again.extras) == ("i", "e", {"t": "1"}, {})


def test_events_built_apart_never_share_their_extras() -> None:
    first, second = HistoryEvent(EventType.TIMER_FIRED), HistoryEvent(EventType.TIMER_FIRED)
    first.extras["k"] = 1
    assert second.extras == {} and first.extras == {"k": 1}


def test_joined_history_reads_past_then_new_like_one_list() -> None:
    events = [HistoryEvent(EventType.TIMER_FIRED, event_id=i) for i in range(7)]
    past, new = events[:4], events[4:]
    joined = JoinedHistory(past, new)
    assert len(joined) == 7 and list(joined) == events
    assert [joined[i] for i in range(-7, 7)] == events + events
    for start in range(-8, 9):
        for stop in (*range(-8, 9), None):
            assert joined[start:stop] == events[start:stop]
    assert joined[::2] == events[::2] and joined[::-1] == events[::-1]
    with pytest.raises(IndexError):
        joined[7]
    new.append(HistoryEvent(EventType.TIMER_FIRED, event_id=7))  # a view: it sees the episode's new events
    assert joined[-1].event_id == 7 and len(joined) == 8
