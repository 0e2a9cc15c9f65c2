"""The store's clients skip aiohttp's per-request proxy and netrc lookups only when the environment has
neither: checked on the decision itself and on real requests to Azurite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp.client
import pytest

from durable_ext.store.azure.http_environment import environment_configures_http

from .conftest import StoreMaker, opened

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "ws_proxy", "wss_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No proxy variables, no $NETRC, and a home without a .netrc; returns that home."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_a_bare_environment_configures_nothing(bare_environment: Path) -> None:
    assert environment_configures_http() is False


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "http_proxy", "WSS_PROXY"])
def test_a_proxy_variable_counts(
    bare_environment: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "http://proxy.invalid:3128")
    assert environment_configures_http() is True


def test_a_no_proxy_list_alone_does_not(bare_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert environment_configures_http() is False


def test_a_netrc_file_counts_at_home_or_where_netrc_points(
    bare_environment: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (bare_environment / ".netrc").write_text("machine example.invalid login u password p\n")
    assert environment_configures_http() is True

    (bare_environment / ".netrc").unlink()
    elsewhere = tmp_path_factory.mktemp("netrc") / "credentials"
    elsewhere.write_text("machine example.invalid login u password p\n")
    monkeypatch.setenv("NETRC", str(elsewhere))
    assert environment_configures_http() is True


@pytest.fixture
def proxy_lookups(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The URLs aiohttp looks up an environment proxy for, in this test."""
    looked_up: list[Any] = []
    real = aiohttp.client.get_env_proxy_for_url

    def recording(url: Any) -> Any:
        looked_up.append(url)
        return real(url)

    monkeypatch.setattr(aiohttp.client, "get_env_proxy_for_url", recording)
    return looked_up


async def _open_and_read_one_row(make_store: StoreMaker) -> None:
    async with opened(make_store, client_only=True) as store:
        assert await store.get_instance("missing") is None


async def test_without_proxy_or_netrc_the_store_sends_without_lookups(
    bare_environment: Path, proxy_lookups: list[Any], make_store: StoreMaker
) -> None:
    await _open_and_read_one_row(make_store)

    assert proxy_lookups == []


async def test_with_a_proxy_variable_the_store_still_honours_the_environment(
    bare_environment: Path,
    proxy_lookups: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    make_store: StoreMaker,
) -> None:
    # A proxy that would refuse the connection, bypassed for the emulator's address by NO_PROXY: the
    # requests succeed only if the bypass is read, and the lookups show the environment was consulted.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    await _open_and_read_one_row(make_store)

    assert proxy_lookups, "the clients looked up no proxy although HTTP_PROXY is set"
