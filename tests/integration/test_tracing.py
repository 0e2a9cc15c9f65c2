"""OpenTelemetry: one trace for an orchestration, its activities and its sub-orchestration."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.integration.conftest import APPS, copy_app
from tests.support.host_runner import HostRunner, poll_until

API = "/runtime/webhooks/durabletask"


def test_one_trace_correctly_parented(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    runner = HostRunner(copy_app(APPS / "tracing", tmp_path / "tracing"), span_exporter=exporter).start()
    try:
        caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        code, _, body = runner.http(
            "POST", f"{API}/orchestrators/traced_parent", headers={"traceparent": caller}
        )
        assert code == 202
        assert runner.wait_for(body["id"])["output"] == ["A", "B", "C"]

        def both_orchestrations_ended() -> list | None:
            spans = list(exporter.get_finished_spans())
            return spans if sum(s.name.startswith("orchestration:") for s in spans) == 2 else None

        spans = poll_until(both_orchestrations_ended)
    finally:
        runner.stop()
    by_name: dict[str, list] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    http = next(s for s in spans if s.name.startswith("POST ") and "orchestrators" in s.name)
    parent = by_name["orchestration:traced_parent"][0]
    child = by_name["orchestration:traced_child"][0]
    steps = by_name["activity:step"]
    trace_id = int("0af7651916cd43dd8448eb211c80319c", 16)
    assert {s.context.trace_id for s in [http, parent, child, *steps]} == {trace_id}
    assert http.parent.span_id == int("b7ad6b7169203331", 16)
    assert parent.parent.span_id == http.context.span_id
    assert child.parent.span_id == parent.context.span_id
    assert sorted(s.parent.span_id for s in steps) == sorted(
        [parent.context.span_id, parent.context.span_id, child.context.span_id]
    )
    assert parent.start_time <= steps[0].start_time and parent.end_time >= child.end_time
    assert parent.attributes["durabletask.runtime_status"] == "Completed"
