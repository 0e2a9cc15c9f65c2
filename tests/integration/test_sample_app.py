"""The seed's HelloWorld through the whole host: HTTP starter, SDK client, orchestrator, activity."""

from __future__ import annotations

from tests.support.host_runner import HostRunner


def test_hello_world_over_http(sample_host: HostRunner) -> None:
    code, headers, body = sample_host.http("POST", "/api/orchestrators/HelloWorld", "Tokyo")
    assert code == 202
    for key in ("id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri"):
        assert key in body
    assert headers["Location"] == body["statusQueryGetUri"]
    status = sample_host.wait_for(body["id"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == "Hello Tokyo!"
    code, _, polled = sample_host.http("GET", body["statusQueryGetUri"])
    assert code == 200 and polled["output"] == "Hello Tokyo!"


def test_history_shape(sample_host: HostRunner) -> None:
    _, _, body = sample_host.http("POST", "/api/orchestrators/HelloWorld", "Paris")
    sample_host.wait_for(body["id"])
    _, _, status = sample_host.http(
        "GET", f"/runtime/webhooks/durabletask/instances/{body['id']}?showHistory=true&showHistoryOutput=true"
    )
    events = [(e["EventType"], e.get("FunctionName")) for e in status["historyEvents"]]
    assert events == [
        ("ExecutionStarted", "HelloWorld"),
        ("TaskCompleted", "SayHello"),
        ("ExecutionCompleted", None),
    ]
    assert status["historyEvents"][1]["Result"] == "Hello Paris!"
    assert status["historyEvents"][2]["OrchestrationStatus"] == "Completed"


def test_sdk_client_start_and_status(sample_host: HostRunner) -> None:
    client = sample_host.client()
    instance_id = sample_host.run(client.start_new("HelloWorld", None, "Oslo"))
    sample_host.wait_for(instance_id)
    status = sample_host.run(client.get_status(instance_id))
    assert status.runtime_status.value == "Completed"
    assert status.output == "Hello Oslo!"


def test_host_status(sample_host: HostRunner) -> None:
    assert sample_host.http("GET", "/admin/host/status")[2] == {"state": "Running"}
