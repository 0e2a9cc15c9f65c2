"""OpenTelemetry traces: one span per orchestration (from its start to its end, across episodes and
restarts), per activity, per entity batch and per HTTP API call, linked by W3C trace context carried in
the messages (the DTFx `ParentTraceContext` field), so one trace shows a whole orchestration tree.

Off unless configured: `OTEL_TRACES_EXPORTER` / `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` in the environment
(with the OTLP exporter installed), or a span exporter handed to the host (tests). When off, nothing
here is imported beyond this module and every hook returns at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from .engine.tracecontext import TraceParent, new_span_id, new_trace_id

log = logging.getLogger("durable_ext.telemetry")

_PRESET_IDS: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "preset_ids", default=None
)


class Telemetry:
    """The host's tracing switch. `enabled` is False unless a provider was configured."""

    def __init__(self, span_exporter: Any = None) -> None:
        self.enabled = False
        self._tracer: Any = None
        self._provider: Any = None
        exporter = span_exporter if span_exporter is not None else _exporter_from_environment()
        if exporter is None:
            return
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "durable_ext")})
        self._provider = TracerProvider(resource=resource, id_generator=_preset_id_generator())
        processor = (
            SimpleSpanProcessor(exporter) if span_exporter is not None else BatchSpanProcessor(exporter)
        )
        self._provider.add_span_processor(processor)
        self._tracer = self._provider.get_tracer("durable_ext")
        self.enabled = True

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()

    def _context(self, header: str | None) -> Any:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        return TraceContextTextMapPropagator().extract({"traceparent": header}) if header else None

    @contextlib.contextmanager
    def span(
        self, name: str, parent_header: str | None, attributes: Mapping[str, Any], kind: str = "INTERNAL"
    ) -> Iterator[Any]:
        """A live span (activity, entity batch, HTTP call); yields its traceparent, or None when off."""
        if not self.enabled:
            yield None
            return
        from opentelemetry import trace

        with self._tracer.start_as_current_span(
            name,
            context=self._context(parent_header),
            kind=getattr(trace.SpanKind, kind),
            attributes=dict(attributes),
        ) as span:
            context = span.get_span_context()
            yield TraceParent(f"{context.trace_id:032x}", f"{context.span_id:016x}").header

    def end_orchestration(
        self,
        name: str,
        instance_id: str,
        trace_context: Mapping[str, Any] | None,
        started: datetime,
        ended: datetime,
        status: str,
    ) -> None:
        """Emit the orchestration's span, with the ids chosen at its start, now that it has ended."""
        if not self.enabled or not trace_context or not trace_context.get("SpanId"):
            return
        from opentelemetry.trace import Status, StatusCode

        ids = (int(str(trace_context["TraceId"]), 16), int(str(trace_context["SpanId"]), 16))
        token = _PRESET_IDS.set(ids)
        try:
            span = self._tracer.start_span(
                f"orchestration:{name}",
                context=self._context(trace_context.get("TraceParent")),
                start_time=int(started.timestamp() * 1e9),
                attributes={
                    "durabletask.type": "orchestration",
                    "durabletask.instance_id": instance_id,
                    "durabletask.runtime_status": status,
                },
            )
            if status == "Failed":
                span.set_status(Status(StatusCode.ERROR))
            span.end(end_time=int(ended.timestamp() * 1e9))
        finally:
            _PRESET_IDS.reset(token)


def _preset_id_generator() -> Any:
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class PresetIdGenerator(IdGenerator):
        """Random ids, except for an orchestration span, whose ids were fixed when it started."""

        def generate_span_id(self) -> int:
            preset = _PRESET_IDS.get()
            return preset[1] if preset else int(new_span_id(), 16)

        def generate_trace_id(self) -> int:
            preset = _PRESET_IDS.get()
            return preset[0] if preset else int(new_trace_id(), 16)

    return PresetIdGenerator()


def _exporter_from_environment() -> Any:
    env = os.environ
    wanted = env.get("OTEL_TRACES_EXPORTER", "")
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if wanted in ("", "none") and not endpoint:
        return None
    try:
        if wanted == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            return ConsoleSpanExporter()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    except ImportError as exc:
        log.warning("Tracing is configured but %s is not installed; traces are off.", exc.name)
        return None
