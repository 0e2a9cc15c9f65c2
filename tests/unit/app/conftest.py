"""Helpers for app-layer tests: the fixture apps and throwaway apps written to a temp folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURE_APPS = Path(__file__).resolve().parents[2] / "fixtures" / "apps"


@pytest.fixture
def fixture_app() -> Callable[[str], Path]:
    def get(name: str) -> Path:
        return FIXTURE_APPS / name

    return get


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write `{relative path: text}` under a fresh root (dedented) and return the root."""
    counter = iter(range(1000))

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / f"app{next(counter)}"
        root.mkdir()
        (root / "host.json").write_text('{"version": "2.0"}')
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"))
        return root

    return write
