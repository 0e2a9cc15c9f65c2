"""Keys as Azure Functions checks them: wrong or missing keys are 401 and change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import APPS, copy_app
from tests.support.host_runner import HostRunner

API = "/runtime/webhooks/durabletask"
KEYS = {
    "masterKey": "master-secret",
    "functionKeys": {"default": "function-secret"},
    "systemKeys": {"durabletask_extension": "system-secret"},
}


@pytest.fixture(scope="module")
def keyed_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostRunner]:
    root = copy_app(APPS / "keys", tmp_path_factory.mktemp("keys") / "keys")
    (root / ".durable").mkdir()
    (root / ".durable" / "keys.json").write_text(json.dumps(KEYS))
    runner = HostRunner(root).start()
    yield runner
    runner.stop()


def code(host: HostRunner, method: str, path: str, key: str | None = None, header: bool = False) -> int:
    headers = {"x-functions-key": key} if header and key else {}
    if key and not header:
        path += ("&" if "?" in path else "?") + f"code={key}"
    return host.http(method, path, headers=headers)[0]


@pytest.mark.parametrize(
    ("path", "allowed", "refused"),
    [
        ("/api/public", [None], []),
        ("/api/private", ["function-secret", "master-secret"], [None, "wrong", "system-secret"]),
        ("/api/admin-only", ["master-secret"], [None, "wrong", "function-secret"]),
        (f"{API}/instances", ["system-secret", "master-secret"], [None, "wrong", "function-secret"]),
    ],
)
def test_each_route_checks_its_level(keyed_host: HostRunner, path: str, allowed: list, refused: list) -> None:
    for key in allowed:
        assert code(keyed_host, "GET", path, key) == 200, key
        if key:
            assert code(keyed_host, "GET", path, key, header=True) == 200, key
    for key in refused:
        assert code(keyed_host, "GET", path, key) == 401, key


def test_refused_requests_change_nothing(keyed_host: HostRunner) -> None:
    assert code(keyed_host, "POST", f"{API}/orchestrators/hello", "function-secret") == 401
    assert code(keyed_host, "POST", f"{API}/orchestrators/hello?", None) == 401
    _, _, listing = keyed_host.http("GET", f"{API}/instances?code=system-secret")
    assert listing == []


def test_links_and_the_sdk_carry_the_system_key(keyed_host: HostRunner) -> None:
    status, _, body = keyed_host.http("POST", "/api/start?code=function-secret")
    assert status == 202
    assert body["statusQueryGetUri"].endswith("code=system-secret")
    final = keyed_host.wait_for(body["id"], query="?code=system-secret")
    assert final["output"] == "Hello Keys!"
    # The status link works as handed out; the same link without its key does not.
    assert keyed_host.http("GET", body["statusQueryGetUri"])[0] == 200
    assert keyed_host.http("GET", body["statusQueryGetUri"].split("?")[0])[0] == 401
    binding = json.loads(keyed_host.host.urls.client_binding_json())  # type: ignore[union-attr]
    assert binding["requiredQueryStringParameters"] == "code=system-secret"
    assert "/_rpc/" in binding["rpcBaseUrl"]


def test_keys_file_without_master_key_is_refused(tmp_path: Path) -> None:
    from durable_ext.host import DurableHost, HostOptions, HostStartError

    root = copy_app(APPS / "keys", tmp_path / "keys")
    (root / ".durable").mkdir()
    (root / ".durable" / "keys.json").write_text(json.dumps({"functionKeys": {"default": "x"}}))
    with pytest.raises(HostStartError, match="no master key"):
        DurableHost(HostOptions(script_root=root, port=0))
