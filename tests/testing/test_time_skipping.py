"""Durable timers, retry delays and scheduled signals fire as soon as nothing else can run, while the
orchestrator still sees the times it would have seen in production."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from itertools import pairwise

import azure.durable_functions as df
import pytest

from durable_ext.testing import TestHost, VirtualClock
from tests.testing.conftest import APPS

TIMERS_APP = APPS / "timers_app"
START = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
REQUEST = {"approver": "ana@example.com", "manager": "bo@example.com", "amount": 1200}


@pytest.fixture
def app(durable_app) -> TestHost:
    return durable_app(TIMERS_APP, start_time=START)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_thirty_daily_timers_finish_in_under_a_second(app: TestHost) -> None:
    began = time.monotonic()
    instance_id = app.start("daily_monitor", 30)
    status = app.wait_for_completion(instance_id)
    elapsed = time.monotonic() - began

    assert status.runtime_status == df.OrchestrationRuntimeStatus.Completed
    checks = status.output
    assert len(checks) == 30
    seen = [at(c["at"]) for c in checks]
    assert all(later - earlier == timedelta(days=1) for earlier, later in pairwise(seen))
    assert timedelta(days=1) <= seen[0] - status.created_time < timedelta(days=1, seconds=1)
    assert checks[0]["reading"] == len(checks[0]["at"])
    assert app.now() >= seen[-1]
    assert elapsed < 1.0, f"took {elapsed:.2f} s of wall time"


def test_approval_arrives_before_the_72_hour_timeout(app: TestHost) -> None:
    began = time.monotonic()
    instance_id = app.start("approval_workflow", REQUEST)
    app.wait_for_idle()  # the request went out; the orchestration waits for an answer or the timeout
    assert app.get_status(instance_id).runtime_status == df.OrchestrationRuntimeStatus.Running
    app.advance(timedelta(hours=5))  # the approver takes five hours
    app.raise_event(instance_id, "ApprovalEvent", {"approved": True, "by": "ana"})
    status = app.wait_for_completion(instance_id)

    output = status.output
    assert output["outcome"] == "approved by ana"
    waited = at(output["decided_at"]) - at(output["requested_at"])
    assert timedelta(hours=5) <= waited < timedelta(hours=5, seconds=5)
    assert at(output["deadline"]) - at(output["requested_at"]) == timedelta(hours=72)
    assert time.monotonic() - began < 1.0


def test_the_72_hour_timeout_wins_when_nobody_answers(app: TestHost) -> None:
    began = time.monotonic()
    status = app.wait_for_completion(app.start("approval_workflow", REQUEST))

    output = status.output
    assert output["outcome"] == "escalated to bo@example.com"
    assert at(output["decided_at"]) == at(output["deadline"])  # exactly when the timer fired
    assert at(output["deadline"]) - at(output["requested_at"]) == timedelta(hours=72)
    assert time.monotonic() - began < 1.0


def test_retry_delays_are_skipped(app: TestHost) -> None:
    began = time.monotonic()
    status = app.wait_for_completion(app.start("with_retries", uuid.uuid4().hex))
    assert status.output["value"] == "ok after 3 attempts"
    # Two one-hour retry delays (plus the milliseconds the first attempt took before time was skipped).
    assert 2.0 <= status.output["hours"] < 2.001
    assert time.monotonic() - began < 1.0


def test_scheduled_entity_signal_fires_when_time_is_advanced(app: TestHost) -> None:
    app.signal_entity(("reminder_box", "ana"), "add", "now")
    app.signal_entity(("reminder_box", "ana"), "add", "tomorrow", at=app.now() + timedelta(days=1))
    app.wait_for_idle()
    assert app.read_entity(("reminder_box", "ana")).state == ["now"]
    app.advance(timedelta(hours=23))
    assert app.read_entity(("reminder_box", "ana")).state == ["now"]
    app.advance(timedelta(hours=1))
    assert app.read_entity(("reminder_box", "ana")).state == ["now", "tomorrow"]


def test_time_runs_normally_when_the_test_is_not_waiting(app: TestHost) -> None:
    first = app.now()
    time.sleep(0.02)
    second = app.now()
    assert timedelta(milliseconds=15) <= second - first < timedelta(seconds=5)
    assert START <= first < START + timedelta(minutes=1)


def test_a_wait_that_cannot_finish_says_why(durable_app) -> None:
    app = durable_app(APPS / "pipeline_app")
    instance_id = app.start("order_pipeline", "order-1")  # waits for a "Shipped" event, no timeout
    with pytest.raises(TimeoutError, match="idle with nothing scheduled"):
        app.wait_for_completion(instance_id, timeout=0.3)
    app.raise_event(instance_id, "Shipped", "parcel 7")
    assert app.wait_for_completion(instance_id).output == ["reserved order-1", "charged order-1", "parcel 7"]


def test_virtual_clock_only_moves_forward() -> None:
    clock = VirtualClock(START)
    frozen = clock.freeze_at(START + timedelta(days=2))
    assert clock.now() == frozen and clock.is_frozen
    assert clock.freeze_at(START) == frozen  # never backwards
    clock.resume()
    assert not clock.is_frozen and clock.now() >= frozen
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
