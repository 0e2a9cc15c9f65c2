"""A test kit for Durable Functions apps: run the app in the test process on a throwaway embedded task
hub with a virtual clock (a 30-day timer fires in milliseconds), drive it with a synchronous client,
stub activities, and check recorded histories against changed orchestrator code.

    from durable_ext.testing import TestHost

    with TestHost("path/to/app") as app:
        instance_id = app.start("HelloWorld", "Tokyo")
        assert app.wait_for_completion(instance_id).output == "Hello Tokyo!"

With pytest, the `durable_app` fixture (durable_ext.testing.pytest_plugin) opens and closes hosts.
"""

from .clock import VirtualClock
from .host import TestHost, entity_id
from .replay_check import Divergence, ReplayReport, check_replay
from .results import EntitySnapshot, HttpResponse, OrchestrationStatus

__all__ = [
    "TestHost",
    "VirtualClock",
    "OrchestrationStatus",
    "EntitySnapshot",
    "HttpResponse",
    "check_replay",
    "ReplayReport",
    "Divergence",
    "entity_id",
]
