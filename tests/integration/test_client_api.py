"""Every durable client call through the official SDK, and the HTTP API over real HTTP."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus as Status

from tests.support.host_runner import HostRunner

API = "/runtime/webhooks/durabletask"


def run(host: HostRunner, coro: Any) -> Any:
    return host.run(coro)


def test_start_with_and_without_id_and_get_status_options(features_host: HostRunner) -> None:
    client = features_host.client()
    iid = run(features_host, client.start_new("sequence", "client-fixed-id", ["Q"]))
    assert iid == "client-fixed-id"
    features_host.wait_for(iid)
    status = run(features_host, client.get_status(iid, show_history=True, show_history_output=True))
    assert status.runtime_status == Status.Completed and status.output == ["Hello Q!"]
    assert status.input_ == '["Q"]'
    assert [e["EventType"] for e in status.historyEvents][-1] == "ExecutionCompleted"
    generated = run(features_host, client.start_new("sequence", None, ["R"]))
    assert len(generated) == 32 and features_host.wait_for(generated)["output"] == ["Hello R!"]
    _, _, no_input = features_host.http("GET", f"{API}/instances/{iid}?showInput=false")
    assert no_input["input"] is None


def test_starting_a_running_id_is_refused(features_host: HostRunner) -> None:
    client = features_host.client()
    run(features_host, client.start_new("waits_forever", "dup-1", None))
    with pytest.raises(Exception, match="already exists and is"):
        run(features_host, client.start_new("waits_forever", "dup-1", None))
    run(features_host, client.terminate("dup-1", "cleanup"))
    features_host.wait_for("dup-1")
    # A finished instance may be started again under the same id.
    run(features_host, client.start_new("sequence", "dup-1", ["again"]))
    assert features_host.wait_for("dup-1")["output"] == ["Hello again!"]


def test_unknown_orchestrator_is_400_naming_the_known_ones(features_host: HostRunner) -> None:
    code, _, body = features_host.http("POST", f"{API}/orchestrators/nope", None)
    assert code == 400
    assert "nope" in body["ExceptionMessage"] and "sequence" in body["ExceptionMessage"]
    with pytest.raises(Exception, match="doesn't exist"):
        run(features_host, features_host.client().start_new("nope", None, None))


def test_status_queries_and_filters(features_host: HostRunner) -> None:
    client = features_host.client()
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    ids = [run(features_host, client.start_new("sequence", f"filter-{i}", ["F"])) for i in range(3)]
    for iid in ids:
        features_host.wait_for(iid)
    everything = run(features_host, client.get_status_all())
    assert {s.instance_id for s in everything} >= set(ids)
    by = run(
        features_host,
        client.get_status_by(
            created_time_from=before,
            created_time_to=datetime.now(timezone.utc) + timedelta(seconds=1),
            runtime_status=[Status.Completed],
        ),
    )
    assert set(ids) <= {s.instance_id for s in by}
    code, _, prefixed = features_host.http("GET", f"{API}/instances?instanceIdPrefix=filter-")
    assert code == 200 and sorted(s["instanceId"] for s in prefixed) == ids


def test_list_paging_over_more_than_100_instances(features_host: HostRunner) -> None:
    client = features_host.client()
    ids = {run(features_host, client.start_new("waits_forever", f"page-{i:03}", None)) for i in range(130)}
    seen: list[str] = []
    token = ""
    for _ in range(10):
        headers = {"x-ms-continuation-token": token} if token else {}
        code, response_headers, page = features_host.http(
            "GET", f"{API}/instances?instanceIdPrefix=page-&top=50", headers=headers
        )
        assert code == 200 and len(page) <= 50
        seen += [s["instanceId"] for s in page]
        token = response_headers.get("x-ms-continuation-token", "")
        if not token:
            break
    assert sorted(seen) == sorted(ids)
    for iid in ids:
        run(features_host, client.terminate(iid, "done"))
    for iid in ids:
        features_host.wait_for(iid, statuses={"Terminated"})
    code, _, body = features_host.http(
        "DELETE",
        f"{API}/instances?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Terminated&instanceIdPrefix=page-",
    )
    assert code == 200 and body["instancesDeleted"] >= len(ids)
    _, _, left = features_host.http("GET", f"{API}/instances?instanceIdPrefix=page-&top=50")
    assert left == []


def test_terminate_raise_suspend_resume_errors(features_host: HostRunner) -> None:
    client = features_host.client()
    with pytest.raises(Exception, match="No instance with ID 'missing' found"):
        run(features_host, client.terminate("missing", "x"))
    assert features_host.http("POST", f"{API}/instances/missing/raiseEvent/E", 1)[0] == 404
    iid = run(features_host, client.start_new("sequence", None, ["T"]))
    features_host.wait_for(iid)
    assert features_host.http("POST", f"{API}/instances/{iid}/terminate?reason=late")[0] == 410
    assert features_host.http("POST", f"{API}/instances/{iid}/raiseEvent/E", 1)[0] == 410
    assert features_host.http("POST", f"{API}/instances/{iid}/suspend")[0] == 410
    running = run(features_host, client.start_new("approval", None, None))
    features_host.wait_for(running, statuses={"Running"})
    code, _, body = features_host.http(
        "POST",
        f"{API}/instances/{running}/raiseEvent/Approval",
        raw=b"x",
        headers={"Content-Type": "text/plain"},
    )
    assert code == 400 and "application/json" in body["Message"]
    code, _, _ = features_host.http(
        "POST",
        f"{API}/instances/{running}/raiseEvent/Approval",
        raw=b"{bad",
        headers={"Content-Type": "application/json"},
    )
    assert code == 400
    run(features_host, client.raise_event(running, "Approval", 5))
    assert features_host.wait_for(running)["output"] == "5"


def test_bad_dates_and_statuses_are_400(features_host: HostRunner) -> None:
    assert features_host.http("GET", f"{API}/instances?createdTimeFrom=yesterday")[0] == 400
    assert features_host.http("GET", f"{API}/instances?runtimeStatus=Sleeping")[0] == 400
    code, _, body = features_host.http("DELETE", f"{API}/instances")
    assert code == 400 and body == "Please provide value for 'createdTimeFrom' parameter."
    assert features_host.http("GET", f"{API}/instances/missing")[0] == 404
    code, _, body = features_host.http("POST", f"{API}/orchestrators/sequence", raw=b"{oops")
    assert code == 400 and "Invalid JSON" in body["ExceptionMessage"]


def test_status_codes_follow_runtime_status(features_host: HostRunner) -> None:
    client = features_host.client()
    running = run(features_host, client.start_new("waits_forever", None, None))
    features_host.wait_for(running, statuses={"Running"})
    code, headers, _ = features_host.http("GET", f"{API}/instances/{running}")
    assert code == 202 and headers["Retry-After"] == "5" and headers["Location"].endswith(running)
    failed = run(features_host, client.start_new("fails", None, None))
    features_host.wait_for(failed)
    assert features_host.http("GET", f"{API}/instances/{failed}")[0] == 200
    assert (
        features_host.http("GET", f"{API}/instances/{failed}?returnInternalServerErrorOnFailure=true")[0]
        == 500
    )
    run(features_host, client.terminate(running, "x"))


def test_purge_one_and_by_filter(features_host: HostRunner) -> None:
    client = features_host.client()
    iid = run(features_host, client.start_new("sequence", None, ["P"]))
    features_host.wait_for(iid)
    assert run(features_host, client.purge_instance_history(iid)).instances_deleted == 1
    assert features_host.http("GET", f"{API}/instances/{iid}")[0] == 404
    assert run(features_host, client.purge_instance_history(iid)).instances_deleted == 0
    others = [run(features_host, client.start_new("sequence", f"purge-{i}", ["P"])) for i in range(2)]
    for other in others:
        features_host.wait_for(other)
    result = run(
        features_host,
        client.purge_instance_history_by(
            created_time_from=datetime.now(timezone.utc) - timedelta(minutes=1),
            runtime_status=[Status.Completed],
        ),
    )
    assert result.instances_deleted >= 2
    assert all(features_host.http("GET", f"{API}/instances/{o}")[0] == 404 for o in others)


def test_rewind_reruns_failed_work(features_host: HostRunner) -> None:
    client = features_host.client()
    iid = run(features_host, client.start_new("fail_once", None, "rewind-key"))
    status = features_host.wait_for(iid)
    assert status["runtimeStatus"] == "Failed"
    run(features_host, client.rewind(iid, "try again"))
    status = features_host.wait_for(iid, statuses={"Completed"})
    assert status["output"] == ["Hello before!", "succeeded on attempt 2"]
    completed = run(features_host, client.start_new("sequence", None, ["done"]))
    features_host.wait_for(completed)
    with pytest.raises(Exception, match="only supported on failed orchestration instances"):
        run(features_host, client.rewind(completed, "no"))


def test_restart_with_new_and_same_id(features_host: HostRunner) -> None:
    client = features_host.client()
    iid = run(features_host, client.start_new("sequence", None, ["S"]))
    features_host.wait_for(iid)
    fresh = run(features_host, client.restart(iid))
    fresh_id = fresh["id"] if isinstance(fresh, dict) else fresh
    assert fresh_id != iid and features_host.wait_for(fresh_id)["output"] == ["Hello S!"]
    same = run(features_host, client.restart(iid, restart_with_new_instance_id=False))
    assert (same["id"] if isinstance(same, dict) else same) == iid
    assert features_host.wait_for(iid)["output"] == ["Hello S!"]
    code, _, body = features_host.http("POST", f"{API}/instances/unknown-id/restart")
    assert code == 400 and "valid orchestration instance" in body["ExceptionMessage"]


def test_start_and_wait_over_http(features_host: HostRunner) -> None:
    code, _, body = features_host.http(
        "POST", f"{API}/orchestrators/sequence?timeout=10&pollingInterval=0.05", ["W"]
    )
    assert code == 200 and body["output"] == ["Hello W!"]
    code, _, body = features_host.http("POST", "/api/wait/sequence", ["V"])
    assert code == 200 and body == ["Hello V!"]


def test_start_and_wait_returns_when_this_host_ends_the_instance(features_host: HostRunner) -> None:
    # The first poll sees it Pending and the next comes only at the end of the 20 s timeout: an answer
    # well before that means the wait was woken by the dispatcher's completion, not by a poll.
    started = time.monotonic()
    code, _, body = features_host.http(
        "POST", f"{API}/orchestrators/sequence?timeout=20&pollingInterval=60", ["N"]
    )
    assert code == 200 and body["runtimeStatus"] == "Completed" and body["output"] == ["Hello N!"]
    assert time.monotonic() - started < 10


def test_management_payload_and_check_status_response(features_host: HostRunner) -> None:
    client = features_host.client()
    payload = client.create_http_management_payload("abc")
    assert payload["id"] == "abc" and "/instances/abc?" in payload["statusQueryGetUri"]
    assert payload["terminatePostUri"].startswith(f"{features_host.origin}{API}/instances/abc/terminate")


def test_client_bound_to_another_hub(features_host: HostRunner) -> None:
    code, _, body = features_host.http("POST", "/api/other-hub/sequence")
    assert code == 200 and body["hub"] == "OtherHub" and body["status"] == "Pending"
    # It lives in OtherHub (no worker runs that hub here), not in this host's own hub.
    assert features_host.http("GET", f"{API}/instances/{body['id']}")[0] == 404
    code, _, status = features_host.http("GET", f"{API}/instances/{body['id']}?taskHub=OtherHub")
    assert code == 202 and status["runtimeStatus"] == "Pending"
