"""W3C trace context as history carries it (the DTFx `ParentTraceContext` field): plain data, no OTel."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TRACE_CONTEXT_KEY = "ParentTraceContext"


@dataclass(frozen=True)
class TraceParent:
    trace_id: str  # 32 hex
    span_id: str  # 16 hex

    @property
    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"

    @classmethod
    def parse(cls, text: str | None) -> TraceParent | None:
        parts = (text or "").split("-")
        if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
            return None
        return cls(parts[1], parts[2])


def new_span_id() -> str:
    return secrets.token_hex(8)


def new_trace_id() -> str:
    return secrets.token_hex(16)


def orchestration_trace_context(parent_header: str | None) -> dict[str, Any]:
    """What a new orchestration's ExecutionStarted carries: its caller (`TraceParent`) and the span id
    its own span will have (`SpanId`), chosen now so its children can point at it before it ends."""
    parent = TraceParent.parse(parent_header)
    trace_id = parent.trace_id if parent else new_trace_id()
    context: dict[str, Any] = {"TraceId": trace_id, "SpanId": new_span_id()}
    if parent is not None:
        context["TraceParent"] = parent.header
    return context


def own_trace_parent(trace_context: Mapping[str, Any] | None) -> str | None:
    """The traceparent that an orchestration's children use: its own span."""
    if not trace_context or not trace_context.get("SpanId"):
        return None
    return TraceParent(str(trace_context["TraceId"]), str(trace_context["SpanId"])).header
