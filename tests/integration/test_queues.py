"""queueTrigger and queue output bindings on the embedded store's queues."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.integration.conftest import REPO
from tests.support.host_runner import HostRunner, poll_until

API = "/runtime/webhooks/durabletask"


def test_sample_queue_start_runs_hello_world(sample_host: HostRunner) -> None:
    code, _, body = sample_host.http("POST", "/admin/queues/start-queue/messages", raw=b"Lima")
    assert code == 201 and body["queue"] == "start-queue"

    def completed_with_lima() -> list[dict[str, object]]:
        _, _, instances = sample_host.http("GET", f"{API}/instances?runtimeStatus=Completed&top=1000")
        return [i for i in instances if i["output"] == "Hello Lima!"]

    assert poll_until(completed_with_lima)
    assert sample_host.http("GET", "/admin/queues/start-queue/messages")[2] == []


def test_cli_puts_a_message(sample_host: HostRunner) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "durable_ext",
            "queue",
            "put",
            "start-queue",
            "Quito",
            "--url",
            sample_host.origin,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

    def completed_with_quito() -> bool:
        _, _, instances = sample_host.http("GET", f"{API}/instances?runtimeStatus=Completed&top=1000")
        return any(i["output"] == "Hello Quito!" for i in instances)

    assert poll_until(completed_with_quito)


def test_failing_message_moves_to_poison_after_five_tries(features_host: HostRunner) -> None:
    features_host.http("POST", "/admin/queues/always-fails/messages", raw=b"bad-order")

    def poisoned() -> list[dict[str, object]]:
        return features_host.http("GET", "/admin/queues/always-fails-poison/messages")[2]

    messages = poll_until(poisoned)
    assert [m["body"] for m in messages] == ["bad-order"]
    assert features_host.http("GET", "/admin/queues/always-fails/messages")[2] == []


def test_queue_output_binding_feeds_a_queue_trigger(features_host: HostRunner) -> None:
    code, _, _ = features_host.http("POST", "/api/enqueue", raw=b"Kyiv")
    assert code == 202
    status = features_host.wait_for("relay-1-Kyiv")
    assert status["output"] == ["Hello Kyiv!"]


def test_bad_queue_name_is_400(features_host: HostRunner) -> None:
    code, _, body = features_host.http("POST", "/admin/queues/Bad_Name/messages", raw=b"x")
    assert code == 400 and "valid queue name" in json.dumps(body)


def test_sample_add_from_queue_signals_the_counter(sample_host: HostRunner) -> None:
    for amount in ("4", "6"):
        assert sample_host.http("POST", "/admin/queues/add-queue/messages", raw=amount.encode())[0] == 201

    def counter() -> object:
        code, _, state = sample_host.http("GET", f"{API}/entities/Counter/myCounter")
        return state if code == 200 and state == 10 else None

    assert poll_until(counter) == 10
