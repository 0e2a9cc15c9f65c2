"""`TestHost`: a user's app running inside the test process on a throwaway embedded task hub and a
virtual clock, driven through a synchronous client.

Time runs normally while the test does something; while it waits (`wait_for_completion`, `advance`,
`wait_for_idle`) timers and other delayed messages fire as soon as nothing else can run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ..app.loader import LoadedApp
from ..app.spec import FunctionSpec
from ..client import DurableClientService
from ..engine.entities import EntityId
from ..engine.history import event_to_json
from ..engine.status import InstanceState
from ..host import DurableHost, HostOptions
from ..store.sqlite import SqliteTaskHubStore
from .clock import VirtualClock
from .loop import run_on_loop
from .results import EntitySnapshot, HttpResponse, OrchestrationStatus
from .stubs import stubbed_activity
from .time_keeper import HostProbe, TimeKeeper, WaitTimeout

T = TypeVar("T")
# An entity as a test names it: the SDK's df.EntityId, a (name, key) pair, or "name@key".
EntityRef = Any
DEFAULT_TIMEOUT = 10.0  # real seconds a wait may take before the test fails


class TestHost:
    """A started app under test. Create with `durable_app(...)` (pytest) or `with TestHost(root) as app:`."""

    __test__ = False  # its name starts with "Test", but it is not a pytest test class

    def __init__(
        self,
        script_root: Path | str,
        *,
        store_dir: Path | None = None,
        host_json: Path | None = None,
        local_settings: Path | None = None,
        settings: Mapping[str, str] | None = None,
        start_time: datetime | None = None,
    ) -> None:
        """`store_dir`: where the hub file goes (default: a new temporary folder, removed on close).
        `settings`: app settings for this host's lifetime (they win over local.settings.json).
        `start_time`: the virtual clock's initial time (default: now)."""
        self.script_root = Path(script_root).resolve()
        self.clock = VirtualClock(start_time)
        self._own_store_dir = store_dir is None
        self.store_dir = Path(store_dir) if store_dir is not None else Path(tempfile.mkdtemp("-durable"))
        self._options = HostOptions(
            script_root=self.script_root,
            host_json=host_json,
            local_settings=local_settings,
            port=0,
            keys_file=self.store_dir / "keys.json",  # the app's own keys file does not apply to tests
        )
        self._settings = dict(settings or {})
        self._environ = _EnvironChanges()
        self._host: DurableHost | None = None
        self._keeper: TimeKeeper | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def open(self) -> TestHost:
        if self._host is not None:
            return self
        self._environ.begin(self._settings)
        try:
            self._host = run_on_loop(self._boot(), timeout=120)
        except BaseException:
            self._environ.end()
            self.close()
            raise
        self._environ.end()
        self._keeper = TimeKeeper(self._sqlite_store, lambda: self.host.loops, self.clock)
        return self

    async def _boot(self) -> DurableHost:
        host = DurableHost(replace(self._options, store_dir=self.store_dir), clock=self.clock)
        try:
            await host.start()
            # A throwaway hub needs no fsync per commit, and wall time should not depend on the disk.
            store = host.store
            assert isinstance(store, SqliteTaskHubStore)
            await store.run(lambda conn: conn.execute("PRAGMA synchronous=OFF"))
        except BaseException:
            with contextlib.suppress(Exception):
                await host.stop()
            raise
        return host

    def close(self) -> None:
        host, self._host, self._keeper = self._host, None, None
        try:
            if host is not None:
                run_on_loop(host.stop(), timeout=120)
        finally:
            self._environ.restore()
            if self._own_store_dir:
                shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> TestHost:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- what is running ------------------------------------------------------------------------------
    @property
    def host(self) -> DurableHost:
        if self._host is None:
            raise RuntimeError("the test host is not open (call open(), or use it as a context manager)")
        return self._host

    @property
    def app(self) -> LoadedApp:
        return self.host.app

    @property
    def origin(self) -> str:
        """Base URL of the host's HTTP server (an OS-assigned port on 127.0.0.1)."""
        return self.host.origin

    @property
    def store_path(self) -> Path:
        return self._sqlite_store.path

    @property
    def _sqlite_store(self) -> SqliteTaskHubStore:
        store = self.host.store
        assert isinstance(store, SqliteTaskHubStore)
        return store

    @property
    def _client(self) -> DurableClientService:
        return self.host.client

    @property
    def _time(self) -> TimeKeeper:
        if self._keeper is None:
            raise RuntimeError("the test host is not open")
        return self._keeper

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        self.host  # noqa: B018 - fail clearly when closed
        return run_on_loop(coro, timeout)

    # -- the clock ------------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The host's (virtual) current time."""
        return self.clock.now()

    def advance(self, delta: timedelta, *, timeout: float = DEFAULT_TIMEOUT) -> datetime:
        """Move time forward by `delta`, running everything that comes due on the way. Returns the new now."""
        horizon = self.clock.now() + delta
        keeper = self._time

        async def advance() -> None:
            await keeper.run_until(_nothing, timeout=timeout, horizon=horizon, stop_when_quiet=True)
            # Everything due by the horizon ran; hold the clock there while the last of it settles.
            keeper.clock.freeze_at(horizon)
            keeper.wake()
            await keeper.run_until(_nothing, timeout=timeout, skip=False, stop_when_quiet=True)

        self._run(keeper.hold(advance()), timeout + 30)
        return horizon

    def wait_for_idle(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until nothing can run now. Time is not skipped: timers not yet due stay pending."""
        self._run(
            self._time.run_until(_nothing, timeout=timeout, skip=False, stop_when_quiet=True), timeout + 30
        )

    # -- orchestrations -------------------------------------------------------------------------------
    def start(self, name: str, input: Any = None, instance_id: str | None = None) -> str:
        """Start orchestrator `name` with a JSON-serialisable input; returns the instance id."""
        return self._run(self._client.start_new(name, instance_id, _sdk_encoded(input)))

    def wait_for_completion(self, instance_id: str, timeout: float = DEFAULT_TIMEOUT) -> OrchestrationStatus:
        """Wait (skipping time) until the instance is Completed, Failed, Terminated or Canceled.

        `timeout` is in real seconds; TimeoutError names what the instance is still waiting for.
        """
        client = self._client

        async def terminal() -> InstanceState | None:
            state = await client.get_instance(instance_id)
            return state if state is not None and state.runtime_status.is_terminal else None

        try:
            state = self._run(self._time.run_until(terminal, timeout=timeout), timeout + 30)
        except WaitTimeout as exc:
            raise TimeoutError(self._stuck_message(instance_id, timeout, exc.probe)) from None
        assert state is not None
        return OrchestrationStatus.of(state)

    def _stuck_message(self, instance_id: str, timeout: float, probe: HostProbe | None) -> str:
        status = self.get_status(instance_id)
        where = "does not exist" if status is None else f"is still {status.runtime_status.value}"
        text = f"Instance '{instance_id}' {where} after {timeout} s of real time"
        if probe is not None and probe.quiet and probe.next_due is None:
            text += (
                ": the host is idle with nothing scheduled, so it waits for something only the test can "
                "send (an external event raised with raise_event?)"
            )
        elif probe is not None and not probe.quiet:
            text += ": work was still running (a slow or hanging activity?)"
        return text + "."

    def get_status(self, instance_id: str) -> OrchestrationStatus | None:
        state = self._run(self._client.get_instance(instance_id))
        return OrchestrationStatus.of(state) if state is not None else None

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        """The orchestrator's `wait_for_external_event` gets `data` as a value, as when it is raised over
        the HTTP API (the SDK's client encodes it twice, so the orchestrator sees JSON text)."""
        self._run(self._client.raise_event(instance_id, event_name, _json_or_none(data)))

    def terminate(self, instance_id: str, reason: str | None = None) -> None:
        self._run(self._client.terminate(instance_id, reason))

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        """The instance's history as DTFx JSON events (what `replay_check` accepts)."""
        events = self._run(self._client.get_history(instance_id))
        return [event_to_json(e) for e in events]

    # -- entities -------------------------------------------------------------------------------------
    def signal_entity(
        self, entity: EntityRef, operation: str, input: Any = None, *, at: datetime | None = None
    ) -> None:
        """One-way operation; `at` schedules it (it fires when the clock gets there)."""
        self._run(self._client.signal_entity(entity_id(entity), operation, _sdk_encoded(input), at))

    def read_entity(self, entity: EntityRef) -> EntitySnapshot:
        """The entity's state now (call `wait_for_idle()` first to see signals just sent)."""
        state = self._run(self._client.read_entity(entity_id(entity)))
        if state is None:
            return EntitySnapshot(exists=False)
        return EntitySnapshot(exists=True, state=json.loads(state.state) if state.state else None)

    # -- the app's HTTP functions -----------------------------------------------------------------------
    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> HttpResponse:
        """Call the host over HTTP: `path` like "/api/orchestrators/HelloWorld". A str or bytes body is
        sent as is, anything else as JSON. The master key is added when the app requires keys."""
        sent = dict(headers or {})
        data: bytes | None
        if body is None or isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
            sent.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        keys = self.host.keys
        if keys.enabled and keys.master_key:
            sent.setdefault("x-functions-key", keys.master_key)
        url = path if path.startswith(("http://", "https://")) else self.origin + "/" + path.lstrip("/")
        request = urllib.request.Request(url, data=data, method=method.upper(), headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return HttpResponse(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, dict(error.headers), error.read())

    # -- stubs ----------------------------------------------------------------------------------------
    def stub_activity(
        self, name: str, fn: Callable[[Any], Any]
    ) -> contextlib.AbstractContextManager[FunctionSpec]:
        """`with app.stub_activity("SayHello", lambda city: "hi"):` runs `fn(input)` instead of the
        activity until the block ends. `fn` may be async; what it raises fails the activity."""
        return stubbed_activity(self.app, name, fn)


def entity_id(entity: EntityRef) -> EntityId:
    if isinstance(entity, EntityId):
        return entity
    if isinstance(entity, tuple):
        name, key = entity
    elif isinstance(entity, str):
        if entity.startswith("@"):
            return EntityId.parse(entity)
        name, sep, key = entity.partition("@")
        if not sep:
            raise ValueError(f"Name an entity as 'name@key', (name, key) or df.EntityId, not {entity!r}.")
    else:  # the SDK's df.EntityId
        name, key = entity.name, entity.key
    return EntityId.of(str(name), str(key))


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _sdk_encoded(value: Any) -> str | None:
    """Orchestration and entity inputs as the SDK's client stores them: JSON text inside a JSON string
    (`get_input()` decodes twice)."""
    return None if value is None else json.dumps(json.dumps(value))


async def _nothing() -> None:
    return None


class _EnvironChanges:
    """App settings go into os.environ (as the Functions host does); undo exactly what opening changed."""

    def __init__(self) -> None:
        self._before: dict[str, str] = {}
        self._ours: dict[str, str] = {}

    def begin(self, settings: Mapping[str, str]) -> None:
        self._before = dict(os.environ)
        os.environ.update(settings)

    def end(self) -> None:
        """Opening is over: remember what it set (local.settings.json Values, `settings`)."""
        self._ours = {k: v for k, v in os.environ.items() if self._before.get(k) != v}

    def restore(self) -> None:
        for key, value in self._ours.items():
            if os.environ.get(key) != value:
                continue  # changed since by the test itself: not ours to undo
            if key in self._before:
                os.environ[key] = self._before[key]
            else:
                os.environ.pop(key, None)
        self._before, self._ours = {}, {}


__all__ = ["TestHost", "entity_id", "DEFAULT_TIMEOUT"]
