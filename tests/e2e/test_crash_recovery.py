"""kill -9 the host mid-flight; after a restart every orchestration completes exactly once."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from pathlib import Path

from durable_ext.engine.history import EventType
from durable_ext.store.sqlite import SqliteTaskHubStore, default_store_path
from tests.e2e.conftest import HostProcess, free_port

APP = Path(__file__).resolve().parent / "apps" / "crash"
API = "/runtime/webhooks/durabletask"


def expected_output(name: str, seed: int) -> int:
    if name == "chain":
        return seed + 5
    return sum(seed + i + 2 for i in range(10))


def test_kill_9_mid_flight_then_restart(tmp_path: Path, host_process_factory: type[HostProcess]) -> None:
    app = tmp_path / "crash"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns(".durable", "__pycache__"))
    port = free_port()
    host = host_process_factory(app, port, tmp_path, tmp_path / "host.log").start()
    http = host.http_client()
    started: dict[str, tuple[str, int]] = {}
    for i in range(50):
        name = "chain" if i % 2 == 0 else "fan"
        code, _, body = http.http("POST", f"{API}/orchestrators/{name}/crash-{i}", i * 100)
        assert code == 202, body
        started[body["id"]] = (name, i * 100)

    # Let some finish, but not all: the kill lands in the middle of the work.
    deadline = time.monotonic() + 20
    completed = 0
    while time.monotonic() < deadline:
        _, _, page = http.http("GET", f"{API}/instances?runtimeStatus=Completed&top=1000")
        completed = len(page)
        if completed >= 5:
            break
        time.sleep(0.02)
    assert 5 <= completed < 50, f"expected the kill to land mid-flight, {completed} were complete"
    host.kill9()

    restarted = host_process_factory(app, port, tmp_path, tmp_path / "host2.log").start()
    http = restarted.http_client()
    for instance_id, (name, seed) in started.items():
        status = http.wait_for(instance_id, timeout=60)
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == expected_output(name, seed)
    assert restarted.terminate() == 0

    async def check_histories() -> None:
        store = SqliteTaskHubStore(default_store_path(app, "CrashHub"))
        await store.open()
        try:
            for instance_id in started:
                events = await store.get_history(instance_id)
                scheduled = Counter(e.event_id for e in events if e.event_type == EventType.TASK_SCHEDULED)
                timers = Counter(e.event_id for e in events if e.event_type == EventType.TIMER_CREATED)
                done = Counter(
                    e.task_scheduled_id
                    for e in events
                    if e.event_type in (EventType.TASK_COMPLETED, EventType.TASK_FAILED)
                )
                fired = Counter(e.timer_id for e in events if e.event_type == EventType.TIMER_FIRED)
                for counter in (scheduled, timers, done, fired):
                    assert all(n == 1 for n in counter.values()), (instance_id, counter)
                assert set(done) == set(scheduled) and set(fired) == set(timers)
                starts = [e for e in events if e.event_type == EventType.EXECUTION_STARTED]
                ends = [e for e in events if e.event_type == EventType.EXECUTION_COMPLETED]
                assert len(starts) == 1 and len(ends) == 1
        finally:
            await store.close()

    asyncio.run(check_histories())
