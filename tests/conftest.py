"""Fixtures for the whole suite."""

from __future__ import annotations

import pytest

from tests.store_azure.azurite import recycle_shared_azurite_if_old, stop_shared_azurite


@pytest.fixture(scope="module", autouse=True)
def _fresh_azurite_when_old() -> None:
    # Autouse, so it runs before the module's own fixtures: the previous module's are torn down by now.
    recycle_shared_azurite_if_old()


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_shared_azurite()
