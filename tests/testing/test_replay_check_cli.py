"""`replay-check` against a hub in use: one running instance, first with the code that started it, then
after the code changed. The CLI runs in its own process, as a user runs it, while the host serves."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from durable_ext import replay_check_cli
from durable_ext.testing import TestHost
from tests.testing.conftest import APPS, REPO


def replay_check(script_root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "durable_ext.replay_check_cli", "--script-root", str(script_root), *extra],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )


@pytest.fixture
def app_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(APPS / "pipeline_app", tmp_path / "pipeline_app"))


def test_running_instance_checked_before_and_after_a_code_change(app_copy: Path) -> None:
    # The hub file goes where the CLI looks for it: <script root>/.durable/<hub>.sqlite.
    with TestHost(app_copy, store_dir=app_copy / ".durable") as app:
        running = app.start("order_pipeline", "order-1")
        finished = app.start("order_pipeline", "order-2")
        app.wait_for_idle()
        app.raise_event(finished, "Shipped", "parcel")
        app.wait_for_completion(finished)

        unchanged = replay_check(app_copy)
        assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
        assert f"OK        {running}  order_pipeline" in unchanged.stdout
        assert finished not in unchanged.stdout  # only in-flight instances are checked
        assert "1 in-flight instance(s) checked: 1 replay, 0 diverge." in unchanged.stdout

        script = app_copy / "function_app.py"
        script.write_text(script.read_text().replace('"charge_card", order', '"bill_customer", order'))
        changed = replay_check(app_copy)
        assert changed.returncode == 1, changed.stdout + changed.stderr
        assert f"DIVERGES  {running}  order_pipeline" in changed.stdout
        assert "at event id 1 the history has TaskScheduled 'charge_card'" in changed.stdout
        assert "1 in-flight instance(s) checked: 0 replay, 1 diverge." in changed.stdout


def test_missing_hub_is_an_error(app_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    replay_check_cli.add_parser(commands)
    args = parser.parse_args(["replay-check", "--script-root", str(app_copy), "--hub", "Elsewhere"])
    assert replay_check_cli.run(args) == 2
    assert "no embedded task hub 'Elsewhere'" in capsys.readouterr().err
