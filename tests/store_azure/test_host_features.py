"""The host's orchestration feature suite (tests/integration) again, on an Azure Storage hub in Azurite."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_ext.host import DurableHost
from durable_ext.store.azure import AzureStorageTaskHubStore
from durable_ext.store.base import TaskHubStore

# The orchestration features, unchanged, on this backend (imported tests run with the fixture below).
# Left out: test_custom_status_uuid_and_time_are_deterministic assumes the first episode starts in the
# same wall-clock second as the client's start, which storage latency sometimes crosses.
from tests.integration.test_orchestrations import (  # noqa: F401
    test_activity_failure_is_catchable,
    test_continue_as_new,
    test_durable_timer,
    test_events_raised_before_waiting_are_buffered,
    test_external_event,
    test_fan_out_fan_in,
    test_nested_compound_tasks,
    test_non_determinism_is_reported,
    test_orchestrator_exception_fails_instance,
    test_retry_gives_up_after_max_attempts,
    test_retry_until_success,
    test_sequence_of_activities,
    test_sub_orchestration_failure_propagates,
    test_sub_orchestrations,
    test_suspend_and_resume,
    test_task_any_event_beats_timer,
    test_task_any_timer_beats_event,
    test_terminate,
)
from tests.support.host_runner import HostRunner

APPS = Path(__file__).resolve().parents[1] / "integration" / "apps"


@pytest.fixture(scope="module")
def features_host(tmp_path_factory: pytest.TempPathFactory, azurite: str) -> Iterator[HostRunner]:
    root = tmp_path_factory.mktemp("features-azure") / "orchestrations"
    shutil.copytree(APPS / "orchestrations", root, ignore=shutil.ignore_patterns(".durable", "__pycache__"))
    hub = f"Features{uuid.uuid4().hex[:12]}"

    def azure_store(host: DurableHost) -> TaskHubStore:
        return AzureStorageTaskHubStore(
            azurite, hub_name=hub, settings=host.durable.storage_provider, clock=host.clock
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DurableHost, "_create_store", azure_store)
        # Queue triggers need the app's own storage queues, which this backend does not provide yet.
        patch.setattr(DurableHost, "_queue_trigger_loops", lambda host: [])
        runner = HostRunner(root).start()
    yield runner
    runner.stop()
