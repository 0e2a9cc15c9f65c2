"""Azurite's own request rate: the ceiling our host's storage requests per step are read against.

N clients (each with its own connection pool, as separate hosts would have) send one kind of simple
request back to back for a few seconds, after a warm-up (a fresh emulator is slower until Node has
compiled its hot paths). requests/s is what the emulator and the Azure SDK in this one Python process
serve together with nothing else of ours running; the CPU each side used says which of them was the
limit (our host pays the same SDK cost per request).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from azure.data.tables.aio import TableClient
from azure.storage.queue.aio import QueueClient

from durable_ext.store.azure.http_environment import environment_configures_http

from .model import latency_figures

CLIENTS = 8
SECONDS = 3.0
WARM_UP_SECONDS = 1.0
BODY = "x" * 300  # about the size of a small task message
USE_ENV = environment_configures_http()  # the clients are built as the store builds its own


@dataclass(frozen=True)
class RawRate:
    operation: str  # "queue put_message", "table upsert_entity"
    clients: int
    seconds: float
    requests: int
    p50_ms: float
    p99_ms: float
    client_cpu: float | None  # CPU this process used, in cores (1.0: one core busy all along)
    azurite_cpu: float | None  # CPU the emulator used, in cores (None: not measurable here)

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "requests_per_s": self.per_s}


Send = Callable[[int], Awaitable[object]]


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


async def _loops(sends: list[Send], seconds: float) -> list[float]:
    """Every sender in a tight loop for `seconds`; the latencies of the requests sent meanwhile."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop(send: Send) -> None:
        i = 0
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            await send(i)
            latencies.append(time.perf_counter() - sent)
            i += 1

    await asyncio.gather(*(loop(s) for s in sends))
    return latencies


async def _hammer(operation: str, sends: list[Send], seconds: float, azurite_pid: int | None) -> RawRate:
    """Warm up, then count the requests of a `seconds` window and the CPU both sides used in it."""
    await _loops(sends, WARM_UP_SECONDS)
    cpu, azurite_cpu = _own_cpu_seconds(), cpu_seconds(azurite_pid)
    started = time.perf_counter()
    latencies = await _loops(sends, seconds)
    elapsed = time.perf_counter() - started
    cpu = (_own_cpu_seconds() - cpu) / elapsed
    azurite_after = cpu_seconds(azurite_pid)
    azurite_share = None
    if azurite_after is not None and azurite_cpu is not None:
        azurite_share = (azurite_after - azurite_cpu) / elapsed
    figures = latency_figures(latencies)
    return RawRate(
        operation,
        len(sends),
        elapsed,
        len(latencies),
        figures["p50_ms"],
        figures["p99_ms"],
        cpu,
        azurite_share,
    )


async def _queue_puts(connection_string: str, clients: int, seconds: float, pid: int | None) -> RawRate:
    name = f"rawrate-{uuid.uuid4().hex[:12]}"
    queues = [
        QueueClient.from_connection_string(connection_string, name, use_env_settings=USE_ENV)
        for _ in range(clients)
    ]
    try:
        await queues[0].create_queue()

        def sender(queue: QueueClient) -> Send:
            return lambda _: queue.send_message(BODY)

        sends = [sender(q) for q in queues]
        return await _hammer("queue put_message", sends, seconds, pid)
    finally:
        await queues[0].delete_queue()
        for q in queues:
            await q.close()


async def _table_upserts(connection_string: str, clients: int, seconds: float, pid: int | None) -> RawRate:
    name = f"rawrate{uuid.uuid4().hex[:12]}"
    tables = [
        TableClient.from_connection_string(connection_string, name, use_env_settings=USE_ENV)
        for _ in range(clients)
    ]
    try:
        await tables[0].create_table()

        def sender(index: int, table: TableClient) -> Send:
            # 100 rows per client, rewritten in turn: upserts of existing rows, as checkpoints mostly are.
            return lambda i: table.upsert_entity(
                {"PartitionKey": f"p{index}", "RowKey": f"r{i % 100}", "Body": BODY}
            )

        sends = [sender(index, t) for index, t in enumerate(tables)]
        return await _hammer("table upsert_entity", sends, seconds, pid)
    finally:
        await tables[0].delete_table()
        for t in tables:
            await t.close()


def measure_raw_rates(
    connection_string: str, azurite_pid: int | None = None, clients: int = CLIENTS, seconds: float = SECONDS
) -> list[RawRate]:
    """Queue puts, then table upserts, each from `clients` concurrent clients for `seconds`."""

    async def both() -> list[RawRate]:
        return [
            await _queue_puts(connection_string, clients, seconds, azurite_pid),
            await _table_upserts(connection_string, clients, seconds, azurite_pid),
        ]

    return asyncio.run(both())
