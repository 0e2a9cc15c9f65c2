from __future__ import annotations

from datetime import datetime, timezone

import pytest

from durable_ext.engine.history import EventType, format_timestamp, parse_timestamp


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
