"""Three host processes share one Azure Storage hub (4 partitions) in Azurite; kill -9 one of them
while 300 orchestrations run: the survivors take its partitions once its leases expire and every
orchestration completes, with no history row written twice."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

from azure.data.tables.aio import TableServiceClient

from durable_ext.store.azure.account import normalize_connection_string
from tests.e2e.conftest import HostProcess, free_port
from tests.store_azure.azurite import shared_azurite

APP = Path(__file__).resolve().parent / "apps" / "crash"
API = "/runtime/webhooks/durabletask"
LEASE_SECONDS = 6.0
# The victim's partitions move once their leases expire, and what it had dequeued shows again as soon
# (a worker holds messages hidden only about as long as its leases, renewing them while it holds them).
# The rest is the survivors' own work, on a loaded 2-core machine.
RECOVERY_SECONDS = 30.0


def test_three_hosts_one_dies(tmp_path: Path, host_process_factory: type[HostProcess]) -> None:
    connection = shared_azurite().connection_string
    app = tmp_path / "crash"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns(".durable", "__pycache__"))
    hub = f"Scale{os.getpid()}{int(time.time()) % 100000}"
    (app / "host.json").write_text(
        json.dumps(
            {
                "version": "2.0",
                "extensions": {"durableTask": {"hubName": hub, "storageProvider": {"partitionCount": 4}}},
            }
        )
    )
    (app / "local.settings.json").write_text(
        json.dumps(
            {
                "Values": {
                    "AzureWebJobsStorage": connection,
                    "DURABLE_EXT_PARTITION_LEASE_SECONDS": str(LEASE_SECONDS),
                }
            }
        )
    )
    hosts = [
        host_process_factory(app, free_port(), tmp_path, tmp_path / f"host{i}.log").start() for i in range(3)
    ]
    http = hosts[0].http_client()
    started: dict[str, int] = {}
    for i in range(300):
        code, _, body = http.http("POST", f"{API}/orchestrators/single/scale-{i}", i)
        assert code == 202, body
        started[body["id"]] = i + 1

    def completed() -> int:
        _, _, page = http.http("GET", f"{API}/instances?runtimeStatus=Completed&top=1000")
        return len(page)

    deadline = time.monotonic() + 60
    while completed() < 50 and time.monotonic() < deadline:
        time.sleep(0.1)
    victim = hosts[2]
    victim.kill9()
    killed_at = time.monotonic()

    for instance_id, expected in started.items():
        remaining = killed_at + RECOVERY_SECONDS - time.monotonic()
        status = http.wait_for(instance_id, timeout=max(remaining, 0.1))
        assert status["runtimeStatus"] == "Completed" and status["output"] == expected, status
    print(f"all 300 completed {time.monotonic() - killed_at:.1f} s after the kill")
    worked = [h for h in hosts[:2] if "Executed 'Functions.single'" in h.output()]
    assert len(worked) == 2, "both survivors should have run orchestrations"
    for host in hosts[:2]:
        assert host.terminate() == 0

    async def history_rows() -> list[tuple[str, str]]:
        service = TableServiceClient.from_connection_string(normalize_connection_string(connection))
        async with service:
            table = service.get_table_client(f"{hub}History")
            return [
                (e["PartitionKey"], e["RowKey"])
                async for e in table.list_entities(select=["PartitionKey", "RowKey"])
            ]

    rows = asyncio.run(history_rows())
    assert rows and max(Counter(rows).values()) == 1
    for instance_id in started:
        events = [r for p, r in rows if p == instance_id and r != "sentinel"]
        # Rows are numbered 0..n-1 with no gap: nothing was written twice or skipped.
        assert sorted(int(r, 16) for r in events) == list(range(len(events)))
