"""The CLI as a user runs it: a real `python -m durable_ext start` process over HTTP."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from tests.e2e.conftest import REPO, HostProcess, free_port


def test_repo_root_serves_sample_app(tmp_path: Path, host_process_factory: type[HostProcess]) -> None:
    # A copy of the repo's top level, as a fresh clone has it.
    root = tmp_path / "repo"
    shutil.copytree(
        REPO / "sample_app", root / "sample_app", ignore=shutil.ignore_patterns(".durable", "__pycache__")
    )
    for name in ("host.json", "local.settings.json"):
        shutil.copy(REPO / name, root / name)
    host = host_process_factory(None, free_port(), root, tmp_path / "host.log").start()
    http = host.http_client()
    code, headers, body = http.http("POST", "/api/orchestrators/HelloWorld", "Tokyo")
    assert code == 202
    for key in ("id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri"):
        assert key in body
    status = http.wait_for(body["id"])
    assert status["runtimeStatus"] == "Completed" and status["output"] == "Hello Tokyo!"
    assert host.terminate() == 0
    output = host.output()
    assert "HelloWorld: orchestrationTrigger" in output
    assert "SayHello: activityTrigger" in output
    assert f"HttpStart: [POST] http://127.0.0.1:{host.port}/api/orchestrators/{{functionName}}" in output
    assert "Executed 'Functions.SayHello' (Succeeded" in output
    assert (root / "sample_app" / ".durable" / "SampleHub.sqlite").exists()


def test_bad_function_json_is_one_clear_line(tmp_path: Path, host_process_factory: type[HostProcess]) -> None:
    app = tmp_path / "app"
    (app / "Broken").mkdir(parents=True)
    (app / "host.json").write_text('{"version": "2.0"}')
    (app / "Broken" / "function.json").write_text('{"bindings": [ {"type": "activityTrigger", }')
    (app / "Broken" / "__init__.py").write_text("def main(x):\n    return x\n")
    host = host_process_factory(app, free_port(), tmp_path, tmp_path / "host.log")
    with contextlib.suppress(AssertionError):
        host.start()
    assert host.proc is not None and host.proc.wait(timeout=30) == 2
    output = host.output()
    assert "function.json" in output and "Broken" in output
    assert "Traceback" not in output
