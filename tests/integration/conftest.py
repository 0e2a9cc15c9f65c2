from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.host_runner import HostRunner

REPO = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"


def copy_app(source: Path, target: Path) -> Path:
    """Run each app from a temporary copy, so its embedded hub file starts empty."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".durable", "__pycache__"))
    return target


@pytest.fixture(scope="module")
def sample_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostRunner]:
    root = copy_app(REPO / "sample_app", tmp_path_factory.mktemp("sample") / "sample_app")
    runner = HostRunner(
        root, host_json=REPO / "host.json", local_settings=REPO / "local.settings.json"
    ).start()
    yield runner
    runner.stop()


@pytest.fixture(scope="module")
def features_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostRunner]:
    root = copy_app(APPS / "orchestrations", tmp_path_factory.mktemp("features") / "orchestrations")
    runner = HostRunner(root).start()
    yield runner
    runner.stop()
