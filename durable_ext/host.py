"""Wires one host: settings, the app, the task hub store, the dispatchers and the HTTP server."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp import web

from .api.admin import AdminApi
from .api.durable_api import DurableHttpApi
from .api.functions import HttpFunctions, client_inputs
from .api.keys import MASTER_KEY_SETTING, HostKeys, KeysError, generate_keys_file, load_keys
from .api.local_client import LOCAL_WEBHOOKS, install_local_sdk_calls
from .api.server import build_web_app
from .api.urls import WebhookUrls
from .app.invoker import InProcessInvoker
from .app.loader import LoadedApp, load_app
from .app.sdk_speedups import install_sdk_speedups
from .app.spec import Invoker
from .client import DurableClientService
from .clock import Clock, SystemClock
from .config import (
    DurableTaskSettings,
    HostSettings,
    LocalSettings,
    apply_values_to_environ,
    get_connection_string,
    load_host_json,
    load_local_settings,
)
from .dispatch.activities import ActivityDispatcher
from .dispatch.extended_sessions import ExtendedSessions
from .dispatch.invocation_log import LoggingInvoker
from .dispatch.loop import Runnable
from .dispatch.orchestrations import OrchestrationDispatcher
from .dispatch.queues import QueueOutputInvoker, QueueTriggerLoop
from .dispatch.stats import DispatchStats
from .engine.orchestration import EpisodeOptions
from .hubs import TaskHubs
from .store.app_queues import AppQueues
from .store.azure import AzureStorageTaskHubStore
from .store.azure.partitions import LeaseTimings
from .store.azure_app_queues import AzureAppQueues
from .store.azurite_launcher import AzuriteUnavailableError, ensure_azurite, uses_development_storage
from .store.base import TaskHubStore
from .store.sqlite import SqliteTaskHubStore, default_store_path
from .store.sqlite_queues import SqliteAppQueues
from .telemetry import Telemetry

log = logging.getLogger("durable_ext.host")


class HostStartError(Exception):
    """The host cannot start; the message says why and what to change."""


@dataclass(frozen=True)
class HostOptions:
    script_root: Path
    host_json: Path | None = None  # default: <script root>/host.json
    local_settings: Path | None = None  # default: <script root>/local.settings.json
    port: int = 7071
    bind: str = "127.0.0.1"
    keys_file: Path | None = None  # default: <script root>/.durable/keys.json
    store_dir: Path | None = None  # embedded hub files here, whatever AzureWebJobsStorage says (test hosts)


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class LoadedConfig:
    settings: HostSettings
    local: LocalSettings


def load_config(options: HostOptions) -> LoadedConfig:
    """Read local.settings.json first (its Values may name the hub in host.json), then host.json."""
    local = load_local_settings(options.local_settings or options.script_root / "local.settings.json")
    apply_values_to_environ(local, os.environ)
    settings = load_host_json(options.host_json or options.script_root / "host.json", os.environ)
    return LoadedConfig(settings, local)


class DurableHost:
    def __init__(
        self, options: HostOptions, *, clock: Clock | None = None, span_exporter: Any = None
    ) -> None:
        """`span_exporter`: an OpenTelemetry exporter to trace into (tests); else OTEL_* settings decide."""
        self.options = options
        self.clock = clock or SystemClock()
        self.telemetry = Telemetry(span_exporter)
        self.config = load_config(options)
        install_sdk_speedups()  # after the settings are in the environment: it reads one of them
        install_local_sdk_calls()
        self.app: LoadedApp = load_app(options.script_root, functions_filter=self.config.settings.functions)
        self.connection_string: str | None = None
        self.azurite: subprocess.Popen[bytes] | None = None  # an emulator this host started
        self.store: TaskHubStore = self._create_store()
        self.queues: AppQueues | None = None
        if isinstance(self.store, SqliteTaskHubStore):
            self.queues = SqliteAppQueues(self.store)
        elif self.connection_string:
            encoding = self.config.settings.queues.message_encoding
            self.queues = AzureAppQueues(self.connection_string, base64=encoding == "base64")
        invoker: Invoker = InProcessInvoker(max_workers=self.durable.max_concurrent_activity_functions + 4)
        if self.queues is not None:
            invoker = QueueOutputInvoker(invoker, self.queues)
        self.invoker = LoggingInvoker(invoker)
        self.keys, self.keys_note = self._load_keys()
        self.urls = WebhookUrls(
            f"http://{options.bind}:{options.port}",
            self.hub_name,
            required_query=self.keys.system_query(),
            rpc_token=secrets.token_urlsafe(24) if self.keys.enabled else None,
        )
        self.client = DurableClientService(
            self.store,
            self.app,
            self.clock,
            overwrite_any_state=self.durable.overridable_existing_instance_states == "AnyState",
            tracing=self.telemetry.enabled,
        )
        self.hubs = TaskHubs(self.hub_name, self.client, self.app, self.clock, self._open_other_hub)
        self._loops: list[Runnable] = []
        self.stats = DispatchStats()
        self._orchestrations: OrchestrationDispatcher | None = None
        self._loop_tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self.port = options.port

    @property
    def durable(self) -> DurableTaskSettings:
        return self.config.settings.durable_task

    @property
    def hub_name(self) -> str:
        return self.durable.hub_name

    def _queue_trigger_loops(self) -> list[QueueTriggerLoop]:
        functions = self.app.functions_by_trigger_type("queueTrigger")
        if not functions:
            return []
        if self.queues is None:
            raise HostStartError("queueTrigger functions need a store with queues.")
        queues = self.queues
        return [
            QueueTriggerLoop(
                spec,
                queues,
                self.invoker,
                self.config.settings.queues,
                lambda s: client_inputs(s, self.urls),
            )
            for spec in functions
        ]

    def _load_keys(self) -> tuple[HostKeys, str]:
        """Keys from settings or the keys file; with none, loopback runs open and other binds get new keys."""
        path = self.options.keys_file or self.options.script_root / ".durable" / "keys.json"
        try:
            keys = load_keys(path, os.environ)
            if keys.enabled:
                return keys, f"Keys are required (from {path if path.exists() else MASTER_KEY_SETTING})."
            if self.options.bind in LOOPBACK:
                return keys, "No keys are configured: listening on loopback only, every route is open."
            keys = generate_keys_file(path)
        except KeysError as exc:
            raise HostStartError(str(exc)) from None
        return keys, f"Listening beyond loopback: keys were generated in {path}; pass them as code=."

    def _hub_path(self, hub: str) -> Path:
        if self.options.store_dir is not None:
            return self.options.store_dir / f"{hub}.sqlite"
        return default_store_path(self.options.script_root, hub)

    def _open_other_hub(self, hub: str) -> TaskHubStore:
        if isinstance(self.store, SqliteTaskHubStore):
            return SqliteTaskHubStore(self._hub_path(hub), hub_name=hub, clock=self.clock, client_only=True)
        if isinstance(self.store, AzureStorageTaskHubStore) and self.connection_string:
            provider = self.durable.storage_provider
            return AzureStorageTaskHubStore(
                self.connection_string, hub_name=hub, settings=provider, clock=self.clock, client_only=True
            )
        raise HostStartError(f"Task hub '{hub}' cannot be opened by this store.")

    def _create_store(self) -> TaskHubStore:
        provider = self.durable.storage_provider
        connection = get_connection_string(provider.connection_name, self.config.local, os.environ)
        if provider.is_embedded or not connection or self.options.store_dir is not None:
            return SqliteTaskHubStore(self._hub_path(self.hub_name), hub_name=self.hub_name, clock=self.clock)
        self.connection_string = connection
        if uses_development_storage(connection):
            try:
                self.azurite = ensure_azurite()
            except AzuriteUnavailableError as exc:
                raise HostStartError(str(exc)) from None
        try:
            return AzureStorageTaskHubStore(
                connection,
                hub_name=self.hub_name,
                settings=provider,
                clock=self.clock,
                lease_timings=_lease_timings_from(os.environ),
            )
        except ValueError as exc:  # bad hub name, partitionCount or connection string
            raise HostStartError(str(exc)) from exc

    async def start(self) -> None:
        await self.store.open()
        durable = self.durable
        # The embedded hub has no other writer but clients of other processes: poll every second. Azure
        # hubs back off up to maxQueuePollingInterval, as DT.AS does; work this host enqueues wakes at once.
        poll = (
            1.0
            if isinstance(self.store, SqliteTaskHubStore)
            else durable.storage_provider.max_queue_polling_interval
        )
        orchestrations = OrchestrationDispatcher(
            self.store,
            self.app,
            self.invoker,
            self.clock,
            max_concurrent=durable.max_concurrent_orchestrator_functions,
            options=EpisodeOptions(
                store_inputs_in_history=durable.store_inputs_in_orchestration_history,
                tracing=self.telemetry.enabled,
            ),
            poll_interval=poll,
            max_entity_batch=durable.max_entity_operation_batch_size,
            stats=self.stats,
            telemetry=self.telemetry,
            notices=self.client.notices,
            sessions=ExtendedSessions(idle_timeout=durable.extended_session_idle_timeout_in_seconds)
            if durable.extended_sessions_enabled
            else None,
        )
        activities = ActivityDispatcher(
            self.store,
            self.app,
            self.invoker,
            self.clock,
            max_concurrent=durable.max_concurrent_activity_functions,
            poll_interval=poll,
            http_poll_seconds=durable.http_settings.default_async_request_sleep_time_milliseconds / 1000,
            deliver_inline=orchestrations.run_inline,
            stats=self.stats,
            telemetry=self.telemetry,
        )
        self._orchestrations = orchestrations
        self.client.deliver_inline = orchestrations.deliver_inline
        self._loops = [orchestrations, activities, *self._queue_trigger_loops()]
        self._loop_tasks = [asyncio.create_task(loop.run()) for loop in self._loops]
        durable_api = DurableHttpApi(self.hubs, self.urls, self.keys)
        web_app = build_web_app(
            durable_api,
            HttpFunctions(
                self.app.http_functions(),
                self.invoker,
                self.urls,
                self.config.settings.http.route_prefix,
                self.keys,
            ),
            AdminApi(self.queues, self.keys),
            self.telemetry,
        )
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.bind, self.options.port)
        await site.start()
        if self.options.port == 0:  # the OS picked the port: read it back for the URLs we hand out
            self.port = int(self._runner.addresses[0][1])
            self.urls = replace(self.urls, origin=f"http://{self.options.bind}:{self.port}")
        if not web_app.middlewares:  # the in-process path runs handlers only, so none may be skipped
            LOCAL_WEBHOOKS.register(self.urls.origin, durable_api.routes())

    async def stop(self) -> None:
        """Stop taking work, let running invocations finish and commit, then close the store."""
        self.client.deliver_inline = None
        LOCAL_WEBHOOKS.unregister(self.urls.origin)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for loop in self._loops:
            loop.stop()
        for loop in self._loops:
            await loop.close()
        for task in self._loop_tasks:
            task.cancel()
        await asyncio.gather(*self._loop_tasks, return_exceptions=True)
        await self.hubs.close()
        await self.store.close()
        if isinstance(self.queues, AzureAppQueues):
            await self.queues.close()
        await _close_sdk_session()
        if self.azurite is not None:
            self.azurite.terminate()
            self.azurite.wait(10)
        self.telemetry.shutdown()

    def summary_line(self) -> str | None:
        running = self._orchestrations.in_flight if self._orchestrations is not None else 0
        return self.stats.summary(running)

    @property
    def loops(self) -> list[Runnable]:
        """The running dispatchers and trigger pollers (a test host watches them to skip time)."""
        return list(self._loops)

    @property
    def origin(self) -> str:
        return f"http://{self.options.bind}:{self.port}"


def _lease_timings_from(environ: Mapping[str, str]) -> LeaseTimings | None:
    """`DURABLE_EXT_PARTITION_LEASE_SECONDS` shortens partition leases (DT.AS: 30 s; the .NET host does not
    expose it): how fast a dead host's partitions move to the others."""
    text = environ.get("DURABLE_EXT_PARTITION_LEASE_SECONDS")
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise HostStartError(
            f"DURABLE_EXT_PARTITION_LEASE_SECONDS must be a number of seconds, got {text!r}."
        ) from None
    return LeaseTimings(
        acquire_interval=max(0.2, seconds / 3),
        lease_interval=seconds,
        claim_interval=seconds * 2,
        busy_interval=max(0.1, seconds / 30),
        drain_timeout=seconds * 2,
    )


async def _close_sdk_session() -> None:
    """The SDK's client keeps one aiohttp session per process, bound to this host's loop: close it."""
    from azure.durable_functions.models.utils import http_utils

    session = getattr(http_utils, "_client_session", None)
    if session is not None and not session.closed:
        await session.close()
    http_utils._client_session = None
