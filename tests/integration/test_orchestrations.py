"""Every orchestration feature of the 1.7 SDK through the real host, with outputs and history shapes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from durable_ext.engine.history import parse_timestamp
from durable_ext.store.azure import AzureStorageTaskHubStore
from tests.support.host_runner import HostRunner, poll_until

API = "/runtime/webhooks/durabletask"


def start(host: HostRunner, name: str, payload: Any = None, instance_id: str | None = None) -> str:
    client = host.client()
    return host.run(client.start_new(name, instance_id, payload))


def history(host: HostRunner, instance_id: str) -> list[dict[str, Any]]:
    _, _, body = host.http("GET", f"{API}/instances/{instance_id}?showHistory=true&showHistoryOutput=true")
    return body["historyEvents"]


def event_types(host: HostRunner, instance_id: str) -> list[str]:
    return [e["EventType"] for e in history(host, instance_id)]


def raise_event(host: HostRunner, instance_id: str, name: str, data: Any) -> None:
    host.run(host.client().raise_event(instance_id, name, data))


def test_sequence_of_activities(features_host: HostRunner) -> None:
    iid = start(features_host, "sequence", ["A", "B"])
    status = features_host.wait_for(iid)
    assert status["output"] == ["Hello A!", "Hello B!"]
    assert event_types(features_host, iid) == [
        "ExecutionStarted",
        "TaskCompleted",
        "TaskCompleted",
        "ExecutionCompleted",
    ]


def test_fan_out_fan_in(features_host: HostRunner) -> None:
    iid = start(features_host, "fan_out", 50)
    assert features_host.wait_for(iid)["output"] == sum(2 * i for i in range(50))
    assert event_types(features_host, iid).count("TaskCompleted") == 50


def test_activity_failure_is_catchable(features_host: HostRunner) -> None:
    iid = start(features_host, "catch_failure")
    output = features_host.wait_for(iid)["output"]
    assert output.startswith("Activity function 'explode' failed: ValueError: kaboom")
    assert "TaskFailed" in event_types(features_host, iid)


def test_retry_until_success(features_host: HostRunner) -> None:
    iid = start(features_host, "with_retry", {"key": "r1", "failures": 2, "attempts": 5})
    assert features_host.wait_for(iid)["output"] == "succeeded on attempt 3"
    assert event_types(features_host, iid) == [
        "ExecutionStarted",
        "TaskFailed",
        "TimerCreated",
        "TimerFired",
        "TaskFailed",
        "TimerCreated",
        "TimerFired",
        "TaskCompleted",
        "ExecutionCompleted",
    ]


def test_retry_gives_up_after_max_attempts(features_host: HostRunner) -> None:
    iid = start(features_host, "with_retry", {"key": "r2", "failures": 10, "attempts": 2})
    output = features_host.wait_for(iid)["output"]
    assert output.startswith("gave up: Activity function 'flaky' failed: RuntimeError: attempt 2 failed")
    types = event_types(features_host, iid)
    # Two attempts, one retry timer between them, and the final immediate timer DTFx always adds.
    assert types.count("TaskFailed") == 2 and types.count("TimerFired") == 2


def test_durable_timer(features_host: HostRunner) -> None:
    iid = start(features_host, "timer", 1)
    status = features_host.wait_for(iid)
    assert 1.0 <= status["output"] < 5.0
    assert event_types(features_host, iid) == [
        "ExecutionStarted",
        "TimerCreated",
        "TimerFired",
        "ExecutionCompleted",
    ]


def test_external_event(features_host: HostRunner) -> None:
    iid = start(features_host, "approval")
    features_host.wait_for(iid, statuses={"Running"})
    raise_event(features_host, iid, "Approval", {"ok": True})
    # The SDK client double-encodes event data, so the orchestrator receives the JSON text.
    assert features_host.wait_for(iid)["output"] == '{"ok": true}'


def test_external_event_raised_over_http_is_a_value(features_host: HostRunner) -> None:
    iid = start(features_host, "approval")
    features_host.wait_for(iid, statuses={"Running"})
    code, _, _ = features_host.http("POST", f"{API}/instances/{iid}/raiseEvent/Approval", {"ok": True})
    assert code == 202
    assert features_host.wait_for(iid)["output"] == {"ok": True}


def test_events_raised_before_waiting_are_buffered(features_host: HostRunner) -> None:
    iid = start(features_host, "two_events")
    features_host.wait_for(iid, statuses={"Running"})
    raise_event(features_host, iid, "Other", 2)
    raise_event(features_host, iid, "Step", 1)
    assert features_host.wait_for(iid)["output"] == ["1", "2"]


def test_a_raise_to_an_idle_instance_on_the_embedded_hub_is_applied_before_it_returns(
    features_host: HostRunner,
) -> None:
    """The embedded hub records the event and runs the episode it wakes in one commit, before the 202."""
    assert features_host.host is not None
    on_azure = isinstance(features_host.host.store, AzureStorageTaskHubStore)
    iid = start(features_host, "two_events")
    features_host.wait_for(iid, statuses={"Running"})
    raise_event(features_host, iid, "Other", 2)
    raised = [e for e in history(features_host, iid) if e["EventType"] == "EventRaised"]
    if not on_azure:  # on Azure Storage the event goes through the control queue first
        assert [e["Name"] for e in raised] == ["Other"]
    raise_event(features_host, iid, "Step", 1)
    assert features_host.wait_for(iid)["output"] == ["1", "2"]


def test_task_any_event_beats_timer(features_host: HostRunner) -> None:
    iid = start(features_host, "approval_with_timeout", 30)
    features_host.wait_for(iid, statuses={"Running"})
    raise_event(features_host, iid, "Approval", "yes")
    status = features_host.wait_for(iid, timeout=10)
    assert status["output"] == {"approved": '"yes"'}


def test_task_any_timer_beats_event(features_host: HostRunner) -> None:
    iid = start(features_host, "approval_with_timeout", 1)
    assert features_host.wait_for(iid)["output"] == "timed out"


def test_sub_orchestrations(features_host: HostRunner) -> None:
    iid = start(features_host, "parent", ["X"])
    output = features_host.wait_for(iid)["output"]
    assert output == {"child": ["Hello X!"], "named": ["Hello Rome!"]}
    child = features_host.wait_for(f"{iid}-child")
    assert child["output"] == ["Hello Rome!"]
    assert event_types(features_host, iid).count("SubOrchestrationInstanceCompleted") == 2


def test_sub_orchestration_failure_propagates(features_host: HostRunner) -> None:
    iid = start(features_host, "parent_of_failure")
    output = features_host.wait_for(iid)["output"]
    assert output.startswith("child failed: Orchestrator function 'fails' failed: orchestrator broke")


def test_orchestrator_exception_fails_instance(features_host: HostRunner) -> None:
    iid = start(features_host, "fails")
    status = features_host.wait_for(iid)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == "Orchestrator function 'fails' failed: orchestrator broke"


def test_continue_as_new(features_host: HostRunner) -> None:
    iid = start(features_host, "counter", 0)
    status = features_host.wait_for(iid)
    assert status["output"] == 3
    # Only the last generation's history remains.
    assert event_types(features_host, iid) == ["ExecutionStarted", "ExecutionCompleted"]


def test_custom_status_uuid_and_time_are_deterministic(features_host: HostRunner) -> None:
    iid = start(features_host, "deterministic_values")
    status = features_host.wait_for(iid)
    output = status["output"]
    assert status["customStatus"] == {"stage": "done"}
    assert output["instance"] == iid and output["parent"] is None
    assert len(set(output["uuids"])) == 2
    started = parse_timestamp(history(features_host, iid)[0]["Timestamp"])
    # The orchestrator's clock is its first episode's start: just after the client's start.
    assert timedelta(0) <= datetime.fromisoformat(output["time"]) - started < timedelta(seconds=10)


def test_unserializable_result_fails_with_the_type(features_host: HostRunner) -> None:
    iid = start(features_host, "unserializable")
    status = features_host.wait_for(iid)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == (
        "Orchestrator function 'unserializable' failed: Object of type object is not JSON serializable"
    )


def test_nested_compound_tasks(features_host: HostRunner) -> None:
    iid = start(features_host, "nested_compound")
    assert features_host.wait_for(iid)["output"] == [[2, 4], 20]


def test_non_determinism_is_reported(features_host: HostRunner) -> None:
    assert features_host.host is not None
    spec = features_host.host.app.orchestrator("changing")
    assert spec is not None
    switches = spec.func.orchestrator_function.__globals__["SWITCHES"]
    iid = start(features_host, "changing")
    poll_until(lambda: "TaskCompleted" in event_types(features_host, iid))
    switches["renamed"] = True
    try:
        raise_event(features_host, iid, "Go", None)
        status = features_host.wait_for(iid)
    finally:
        switches["renamed"] = False
    if features_host.host.config.settings.durable_task.extended_sessions_enabled:
        # The session kept running the code the instance started with; only a restart (which is how code
        # changes) replays the history through the new code and finds the divergence.
        assert status["runtimeStatus"] == "Completed"
        return
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == (
        "Orchestrator function 'changing' failed: Non-deterministic workflow detected: the history has "
        "TaskScheduled 'say_hello' at event id 0, but the orchestrator now schedules TaskScheduled 'double'. "
        "Orchestrator code must make the same calls in the same order on every replay; deploy changed code "
        "under a new orchestrator name or version."
    )


def test_terminate(features_host: HostRunner) -> None:
    iid = start(features_host, "waits_forever")
    features_host.wait_for(iid, statuses={"Running"})
    features_host.run(features_host.client().terminate(iid, "enough"))
    status = features_host.wait_for(iid)
    assert status["runtimeStatus"] == "Terminated" and status["output"] == "enough"
    assert event_types(features_host, iid)[-2:] == ["ExecutionTerminated", "ExecutionCompleted"]


def test_suspend_and_resume(features_host: HostRunner) -> None:
    iid = start(features_host, "approval")
    features_host.wait_for(iid, statuses={"Running"})
    client = features_host.client()
    features_host.run(client.suspend(iid, "hold"))
    features_host.wait_for(iid, statuses={"Suspended"})
    raise_event(features_host, iid, "Approval", 7)
    features_host.wait_for(iid, statuses={"Suspended"})
    features_host.run(client.resume(iid, "go"))
    assert features_host.wait_for(iid)["output"] == "7"


def test_http_function_route(features_host: HostRunner) -> None:
    code, _, body = features_host.http("GET", "/api/echo?q=hi")
    assert code == 200 and body == {"q": "hi"}
    code, _, body = features_host.http("POST", "/api/start/sequence", ["Z"])
    assert code == 202
    assert features_host.wait_for(body["id"])["output"] == ["Hello Z!"]


def test_call_http_get(features_host: HostRunner) -> None:
    iid = start(
        features_host, "http_call", {"method": "GET", "uri": f"{features_host.origin}/api/echo?q=hey"}
    )
    assert features_host.wait_for(iid)["output"] == {"status": 200, "content": '{"q": "hey"}'}


def test_call_http_follows_202_location(features_host: HostRunner) -> None:
    iid = start(features_host, "http_call", {"method": "GET", "uri": f"{features_host.origin}/api/accepted"})
    assert features_host.wait_for(iid)["output"] == {"status": 200, "content": '{"q": "polled"}'}
    completed = [e for e in history(features_host, iid) if e["EventType"] == "TaskCompleted"]
    assert [e["FunctionName"] for e in completed] == ["BuiltIn::HttpActivity"]


def test_call_http_connection_error_is_a_task_failure(features_host: HostRunner) -> None:
    iid = start(features_host, "http_call", {"method": "GET", "uri": "http://127.0.0.1:9/nothing"})
    status = features_host.wait_for(iid)
    assert status["runtimeStatus"] == "Failed"
    assert "Durable HTTP request failed" in status["output"]
