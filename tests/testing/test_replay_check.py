"""The replay checker: recorded histories against unchanged and deliberately changed orchestrators."""

from __future__ import annotations

from pathlib import Path

import azure.durable_functions as df
import pytest

from durable_ext.testing import TestHost, check_replay
from durable_ext.testing.replay_check import load_history
from tests.testing.conftest import APPS

RECORDED = Path(__file__).parent / "fixtures" / "order_pipeline_midflight.json"  # waiting for "Shipped"


def order_pipeline(context: df.DurableOrchestrationContext):  # as deployed (pipeline_app)
    order = context.get_input()
    reserved = yield context.call_activity("reserve_stock", order)
    charged = yield context.call_activity("charge_card", order)
    shipment = yield context.wait_for_external_event("Shipped")
    return [reserved, charged, shipment]


def activity_renamed(context: df.DurableOrchestrationContext):
    order = context.get_input()
    reserved = yield context.call_activity("reserve_stock", order)
    charged = yield context.call_activity("bill_customer", order)  # was charge_card
    shipment = yield context.wait_for_external_event("Shipped")
    return [reserved, charged, shipment]


def order_swapped(context: df.DurableOrchestrationContext):
    order = context.get_input()
    charged = yield context.call_activity("charge_card", order)  # now charges first
    reserved = yield context.call_activity("reserve_stock", order)
    shipment = yield context.wait_for_external_event("Shipped")
    return [reserved, charged, shipment]


def step_added_later(context: df.DurableOrchestrationContext):
    result = yield from order_pipeline(context)
    yield context.call_activity("reserve_stock", "audit")  # after the wait: not reached yet
    return result


@pytest.fixture
def pipeline(durable_app) -> TestHost:
    return durable_app(APPS / "pipeline_app")


def test_unchanged_orchestrator_replays_the_recorded_history() -> None:
    report = check_replay(order_pipeline, RECORDED)
    assert report.ok, report.message
    assert report.instance_id == "order-42" and report.first_divergence is None
    assert check_replay(df.Orchestrator.create(order_pipeline), RECORDED).ok  # the SDK handle works too
    assert check_replay(step_added_later, RECORDED).ok  # changes past the current point are safe


def test_renamed_activity_is_flagged_at_its_event() -> None:
    report = check_replay(activity_renamed, RECORDED)
    assert not report.ok
    assert report.first_divergence is not None
    assert report.first_divergence.event_id == 1
    assert report.first_divergence.expected == "TaskScheduled 'charge_card'"
    assert report.first_divergence.actual == "TaskScheduled 'bill_customer'"
    assert "Non-deterministic workflow detected" in report.message


def test_swapped_order_is_flagged_at_the_first_call() -> None:
    report = check_replay(order_swapped, RECORDED)
    assert not report.ok and report.first_divergence is not None
    assert report.first_divergence.event_id == 0
    assert report.first_divergence.expected == "TaskScheduled 'reserve_stock'"
    assert report.first_divergence.actual == "TaskScheduled 'charge_card'"


def test_live_history_and_the_apps_own_function(pipeline: TestHost) -> None:
    instance_id = pipeline.start("order_pipeline", "order-7")
    pipeline.wait_for_idle()
    history = pipeline.history(instance_id)
    spec = pipeline.app.orchestrator("order_pipeline")  # the FunctionSpec the host runs
    assert check_replay(spec, history).ok
    assert not check_replay(order_swapped, history).ok


def test_status_api_payload_is_rebuilt_best_effort(pipeline: TestHost) -> None:
    instance_id = pipeline.start("order_pipeline", "order-8")
    pipeline.wait_for_idle()
    pipeline.raise_event(instance_id, "Shipped", "parcel 1")
    pipeline.wait_for_completion(instance_id)
    url = f"/runtime/webhooks/durabletask/instances/{instance_id}?showHistory=true&showHistoryOutput=true"
    payload = pipeline.http("GET", url).json()

    report = check_replay(order_pipeline, payload)
    assert report.ok and report.rebuilt, report.message
    assert "best-effort" in report.message
    renamed = check_replay(activity_renamed, payload)
    assert not renamed.ok and renamed.first_divergence is not None
    assert renamed.first_divergence.event_id == 1
    # The rebuilt ids match the ones the store recorded.
    rebuilt, _, _ = load_history(payload)
    stored = [e for e in pipeline.history(instance_id) if e["EventType"] == 4]
    assert [(e.event_id, e.name) for e in rebuilt if e.event_type == 4] == [
        (e["EventId"], e["Name"]) for e in stored
    ]


def test_completed_history_flags_code_that_would_do_more(pipeline: TestHost) -> None:
    instance_id = pipeline.start("order_pipeline", "order-9")
    pipeline.wait_for_idle()
    pipeline.raise_event(instance_id, "Shipped", "parcel 2")
    pipeline.wait_for_completion(instance_id)
    history = pipeline.history(instance_id)
    assert check_replay(order_pipeline, history).ok
    report = check_replay(step_added_later, history)
    assert not report.ok and report.first_divergence is not None
    assert report.first_divergence.expected == "ExecutionCompleted"
    assert "reserve_stock" in report.first_divergence.actual


def test_an_orchestrator_that_now_raises_is_reported() -> None:
    def crashes(context: df.DurableOrchestrationContext):
        yield context.call_activity("reserve_stock", context.get_input())
        raise KeyError("config missing")

    report = check_replay(crashes, RECORDED)
    assert not report.ok and "config missing" in report.message
