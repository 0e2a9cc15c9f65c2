from __future__ import annotations

from pathlib import Path

# The kit's fixtures, as the plugin provides them. (A `pytest_plugins` list here would break
# `pytest .`: pytest refuses it in conftest files below the rootdir's first level.)
from durable_ext.testing.pytest_plugin import durable_app, durable_app_module  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
