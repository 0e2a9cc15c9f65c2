from __future__ import annotations

import random

import pytest
from dateutil.parser import parse as dateutil_parse

from durable_ext.app.sdk_speedups import install_sdk_speedups, parse_timestamp_like_dateutil


def test_same_results_as_dateutil_for_host_stamps_and_others() -> None:
    rng = random.Random(7)
    samples = ["2024-01-01T00:00:00Z", "2024-02-29T23:59:59.9999999Z", "2024-05-01T10:00:00.02Z"]
    for _ in range(500):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 7)))
        date = f"20{rng.randint(10, 39)}-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}"
        clock = f"{rng.randint(0, 23):02}:{rng.randint(0, 59):02}:{rng.randint(0, 59):02}"
        stamp = f"{date}T{clock}" + (f".{digits}" if digits else "") + "Z"
        samples.append(stamp)
    samples += ["2024-01-01T00:00:00", "2024-01-01T00:00:00+02:00", "Jan 5 2024"]  # fall back to dateutil
    for text in samples:
        ours, theirs = parse_timestamp_like_dateutil(text), dateutil_parse(text)
        assert (ours, str(ours), repr(ours.tzinfo)) == (theirs, str(theirs), repr(theirs.tzinfo)), text


def test_installed_into_the_sdk() -> None:
    import importlib

    install_sdk_speedups()
    module = importlib.import_module("azure.durable_functions.models.history.HistoryEvent")
    assert module.dt_parse is parse_timestamp_like_dateutil


def test_the_executor_s_namedtuple_is_built_once_and_behaves_as_before() -> None:
    from azure.durable_functions.models.history.HistoryEventType import HistoryEventType
    from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor

    install_sdk_speedups()
    first, second = TaskOrchestrationExecutor(), TaskOrchestrationExecutor()
    completed = first.event_to_SetTaskValuePayload[HistoryEventType.TASK_COMPLETED]
    assert type(completed) is type(second.event_to_SetTaskValuePayload[HistoryEventType.TASK_COMPLETED])
    assert (completed.is_success, completed.task_id_key) == (True, "TaskScheduledId")
    assert completed._fields == ("is_success", "task_id_key")


def test_strict_typing_is_read_as_the_host_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.functions import _durable_functions as codec

    monkeypatch.setenv("AZURE_FUNCTIONS_DURABLE_STRICT_TYPING", "1")
    install_sdk_speedups()
    monkeypatch.setenv("AZURE_FUNCTIONS_DURABLE_STRICT_TYPING", "0")
    assert codec._is_strict_mode() is True  # the value it had at install
    install_sdk_speedups()  # the next host start reads it again
    assert codec._is_strict_mode() is False
