"""The SDK client on the host's own loop is served in process (durable_ext/api/local_client.py): the same
answers as over HTTP, and HTTP still for a client on another loop or when the setting asks for it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
from azure.durable_functions.models.utils import http_utils

from durable_ext.api.local_client import FORCE_HTTP_SETTING, LOCAL_WEBHOOKS
from tests.integration.conftest import APPS, copy_app, settings_for
from tests.support.host_runner import HostRunner, poll_until

KEYS = {"masterKey": "master-secret", "systemKeys": {"durabletask_extension": "system-secret"}}


def _keyed_host(folder: Path, *, sdk_over_http: bool) -> Iterator[HostRunner]:
    """The orchestrations app on the embedded hub, with keys (so the key check is on the path)."""
    root = copy_app(APPS / "orchestrations", folder / "orchestrations")
    (root / ".durable").mkdir()
    (root / ".durable" / "keys.json").write_text(json.dumps(KEYS))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AzureWebJobsStorage", "")
        if sdk_over_http:
            patch.setenv(FORCE_HTTP_SETTING, "1")
        runner = HostRunner(root, local_settings=settings_for("embedded", root)).start()
        yield runner
        runner.stop()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostRunner]:
    yield from _keyed_host(tmp_path_factory.mktemp("local"), sdk_over_http=False)


@pytest.fixture(scope="module")
def http_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostRunner]:
    """The same app, started with the setting that sends the SDK's calls over HTTP."""
    yield from _keyed_host(tmp_path_factory.mktemp("http"), sdk_over_http=True)


def _status(host: HostRunner, client: df.DurableOrchestrationClient, instance_id: str) -> str:
    return str(host.run(client.get_status(instance_id)).runtime_status.value)


def _round_trip(host: HostRunner, name: str) -> tuple[Any, ...]:
    """Start an orchestration that waits for an event, raise it, read the result; signal and read an
    entity; ask for an unknown instance. Returns what the SDK reported."""
    client = host.client()
    instance_id = host.run(client.start_new("approval", None, None))
    poll_until(lambda: _status(host, client, instance_id) == "Running")
    host.run(client.raise_event(instance_id, "Approval", True))
    poll_until(lambda: _status(host, client, instance_id) == "Completed")
    status = host.run(client.get_status(instance_id))
    entity = df.EntityId("Counter", name)
    host.run(client.signal_entity(entity, "add", 5))
    assert poll_until(lambda: host.run(client.read_entity_state(entity)).entity_state == 5)
    missing = host.run(client.get_status("no-such-instance"))
    return status.runtime_status.value, status.output, missing.message


def _failures(host: HostRunner) -> list[str]:
    """What the SDK raises for an unknown orchestrator and for a wrong key."""
    assert host.host is not None
    token = host.host.urls.rpc_token
    assert token
    wrong_key = df.DurableOrchestrationClient(host.host.urls.client_binding_json().replace(token, "wrong"))
    messages = []
    for call in (
        host.client().start_new("no_such_orchestrator", None, None),
        wrong_key.start_new("approval", None, None),
    ):
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the SDK raises plain Exception
            host.run(call)
        messages.append(str(caught.value))
    return messages


def test_a_client_on_the_hosts_loop_is_served_in_process(host: HostRunner) -> None:
    before = LOCAL_WEBHOOKS.served
    # "true": the 1.7 SDK encodes event data twice
    assert _round_trip(host, "in-process") == ("Completed", "true", "")
    assert LOCAL_WEBHOOKS.served - before >= 7  # start, raise, status, signal, reads: none over HTTP


def test_the_setting_sends_every_call_over_http_with_the_same_answers(
    host: HostRunner, http_host: HostRunner
) -> None:
    in_process = _round_trip(host, "compare")
    before = LOCAL_WEBHOOKS.served
    assert _round_trip(http_host, "compare") == in_process
    assert LOCAL_WEBHOOKS.served == before


def test_errors_are_the_same_in_process_and_over_http(host: HostRunner, http_host: HostRunner) -> None:
    before = LOCAL_WEBHOOKS.served
    in_process = _failures(host)
    assert LOCAL_WEBHOOKS.served - before == 2
    assert "no_such_orchestrator" in in_process[0] and "Unauthorized" in in_process[1]
    assert _failures(http_host) == in_process
    assert LOCAL_WEBHOOKS.served - before == 2


def test_a_client_on_another_loop_goes_over_http(host: HostRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync function's `asyncio.run(...)` on a pool thread: not the host's loop, so HTTP."""
    client = host.client()
    instance_id = host.run(client.start_new("sequence", None, None))
    poll_until(lambda: _status(host, client, instance_id) == "Completed")
    # The SDK keeps one aiohttp session per process, bound to the loop that made it: this loop gets its own.
    monkeypatch.setattr(http_utils, "_client_session", None)
    found: dict[str, Any] = {}

    async def status_and_close() -> None:
        found["status"] = await client.get_status(instance_id)
        await http_utils._close_session()

    before = LOCAL_WEBHOOKS.served
    thread = threading.Thread(target=lambda: asyncio.run(status_and_close()))
    thread.start()
    thread.join(30)
    assert found["status"].runtime_status.value == "Completed"
    assert LOCAL_WEBHOOKS.served == before
