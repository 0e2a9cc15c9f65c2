"""`stub_activity` replaces an activity for one block, in function.json (v1) and decorator (v2) apps."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import pytest

from durable_ext.testing import TestHost
from tests.testing.conftest import APPS, REPO

REQUEST = {"approver": "ana@example.com", "manager": "bo@example.com"}


@pytest.fixture
def timers(durable_app) -> TestHost:
    return durable_app(APPS / "timers_app")


def test_stub_sees_the_decoded_input_and_its_result_reaches_the_orchestrator(timers: TestHost) -> None:
    sent: list[dict] = []

    def fake_mail(request: dict) -> str:
        sent.append(request)
        return "queued"

    with timers.stub_activity("send_approval_request", fake_mail):
        instance_id = timers.start("approval_workflow", REQUEST)
        timers.wait_for_idle()
    assert sent == [REQUEST]
    timers.raise_event(instance_id, "ApprovalEvent", {"approved": False, "by": "ana"})
    assert timers.wait_for_completion(instance_id).output["outcome"] == "rejected by ana"
    send = [e for e in timers.history(instance_id) if e["EventType"] == 5][0]  # TaskCompleted
    assert send["Result"] == '"queued"'


def test_async_activity_replaced_by_sync_and_async_stubs(timers: TestHost) -> None:
    with timers.stub_activity("fetch_forecast", lambda city: f"sunny in {city}"):
        assert timers.wait_for_completion(timers.start("forecast", "Lima")).output == "sunny in Lima"

    async def slow_forecast(city: str) -> str:
        await asyncio.sleep(0.01)
        return f"rain in {city}"

    with timers.stub_activity("fetch_forecast", slow_forecast):
        assert timers.wait_for_completion(timers.start("forecast", "Oslo")).output == "rain in Oslo"
    # Restored: the real activity fails without a network.
    status = timers.wait_for_completion(timers.start("forecast", "Rome"))
    assert status.runtime_status == df.OrchestrationRuntimeStatus.Failed
    assert "no network in tests" in status.output


def test_a_raising_stub_fails_the_activity(durable_app) -> None:
    app = durable_app(REPO / "sample_app")

    def broken(city: str) -> str:
        raise RuntimeError(f"cannot greet {city}")

    with app.stub_activity("SayHello", broken):
        status = app.wait_for_completion(app.start("HelloWorld", "Kyiv"))
    assert status.runtime_status == df.OrchestrationRuntimeStatus.Failed
    assert "Activity function 'SayHello' failed: RuntimeError: cannot greet Kyiv" in status.output


def test_nested_stubs_restore_in_order(durable_app) -> None:
    app = durable_app(REPO / "sample_app")
    with app.stub_activity("sayhello", lambda city: "outer"):  # names match without case, as in Azure
        with app.stub_activity("SayHello", lambda city: "inner"):
            assert app.wait_for_completion(app.start("HelloWorld", "x")).output == "inner"
        assert app.wait_for_completion(app.start("HelloWorld", "x")).output == "outer"
    assert app.wait_for_completion(app.start("HelloWorld", "x")).output == "Hello x!"


def test_stubbing_an_unknown_activity_names_the_known_ones(timers: TestHost) -> None:
    with (
        pytest.raises(LookupError, match="no activity 'send_mail'.*send_approval_request"),
        timers.stub_activity("send_mail", lambda value: None),
    ):
        pass
