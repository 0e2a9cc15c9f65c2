"""The plugin as a user's project loads it: no conftest, just `-p durable_ext.testing.pytest_plugin`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.testing.conftest import REPO

USER_TEST = """
import pytest

SAMPLE_APP = {sample!r}


def test_hello(durable_app):
    app = durable_app(SAMPLE_APP)
    assert app.wait_for_completion(app.start("HelloWorld", "Tokyo")).output == "Hello Tokyo!"


@pytest.fixture(scope="module")
def shared(durable_app_module):
    return durable_app_module(SAMPLE_APP)


def test_module_host_keeps_state(shared):
    shared.signal_entity("Counter@c", "add", 2)
    shared.wait_for_idle()


def test_module_host_keeps_state_2(shared):
    shared.signal_entity("Counter@c", "add", 3)
    shared.wait_for_idle()
    assert shared.read_entity("Counter@c").state == 5
"""


def test_plugin_loads_with_dash_p(tmp_path: Path) -> None:
    (tmp_path / "test_user_app.py").write_text(USER_TEST.format(sample=str(REPO / "sample_app")))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "durable_ext.testing.pytest_plugin", "-p", "no:cacheprovider"]
        + ["-q", "-W", "ignore::DeprecationWarning", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
