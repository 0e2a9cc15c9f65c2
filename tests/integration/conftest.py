"""Hosts for the integration suites. `features_host` runs every test four times: on the embedded hub, on an
Azure Storage hub in Azurite (the same app, configured only through local.settings.json), on the
embedded hub with extended sessions (host.json `extendedSessionsEnabled`), and on the embedded hub with
the SDK client's calls sent over HTTP (elsewhere a client on the host's loop is served in process)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_ext.api.local_client import FORCE_HTTP_SETTING
from durable_ext.store.azure import AzureStorageTaskHubStore
from tests.support.host_runner import HostRunner

REPO = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
STORES = ["embedded", "azure", "sessions", "sdk-http"]


def copy_app(source: Path, target: Path) -> Path:
    """Run each app from a temporary copy, so its embedded hub file starts empty."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".durable", "__pycache__"))
    return target


def settings_for(store: str, root: Path) -> Path:
    """A local.settings.json choosing the store: empty AzureWebJobsStorage, or Azurite's and a fresh hub."""
    values = {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": ""}
    host_json = root / "host.json"
    if store == "sessions":
        config = json.loads(host_json.read_text()) if host_json.exists() else {"version": "2.0"}
        config.setdefault("extensions", {}).setdefault("durableTask", {})["extendedSessionsEnabled"] = True
        host_json.write_text(json.dumps(config))
    if store == "azure":
        from tests.store_azure.azurite import shared_azurite

        values["AzureWebJobsStorage"] = shared_azurite().connection_string
        config = json.loads(host_json.read_text()) if host_json.exists() else {"version": "2.0"}
        config.setdefault("extensions", {}).setdefault("durableTask", {})["hubName"] = (
            f"T{uuid.uuid4().hex[:12]}"
        )
        host_json.write_text(json.dumps(config))
    path = root / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    return path


@pytest.fixture(scope="module")
def sample_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostRunner]:
    root = copy_app(REPO / "sample_app", tmp_path_factory.mktemp("sample") / "sample_app")
    runner = HostRunner(
        root, host_json=REPO / "host.json", local_settings=REPO / "local.settings.json"
    ).start()
    yield runner
    runner.stop()


@pytest.fixture(scope="module", params=STORES)
def features_host(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostRunner]:
    root = copy_app(APPS / "orchestrations", tmp_path_factory.mktemp("features") / "orchestrations")
    settings = settings_for(request.param, root)
    # Environment variables beat local.settings.json, and another in-process host (the sample app's)
    # may have put its own AzureWebJobsStorage there: this host's choice goes there too while it runs.
    connection = json.loads(settings.read_text())["Values"]["AzureWebJobsStorage"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AzureWebJobsStorage", connection)
        if request.param == "sdk-http":
            patch.setenv(FORCE_HTTP_SETTING, "1")
        runner = HostRunner(root, local_settings=settings).start()
        assert runner.host is not None
        on_azure = isinstance(runner.host.store, AzureStorageTaskHubStore)
        assert on_azure == (request.param == "azure"), f"the {request.param} host runs on {runner.host.store}"
        yield runner
        runner.stop()
