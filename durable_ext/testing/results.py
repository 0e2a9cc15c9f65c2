"""What the test client hands back: plain values, decoded from the stored JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import azure.durable_functions as df

from ..api.status import parse_stored
from ..engine.status import InstanceState


@dataclass(frozen=True)
class OrchestrationStatus:
    instance_id: str
    name: str
    runtime_status: df.OrchestrationRuntimeStatus
    input: Any
    output: Any  # the return value; for a failed instance, the failure message
    custom_status: Any
    created_time: datetime
    last_updated_time: datetime

    @classmethod
    def of(cls, state: InstanceState) -> OrchestrationStatus:
        return cls(
            instance_id=state.instance_id,
            name=state.name,
            runtime_status=df.OrchestrationRuntimeStatus(state.runtime_status.value),
            input=sdk_value(state.input),
            output=parse_stored(state.output),
            custom_status=parse_stored(state.custom_status),
            created_time=state.created_time,
            last_updated_time=state.last_updated_time,
        )


def sdk_value(text: str | None) -> Any:
    """A stored input as `get_input()` sees it: the SDK's client stores JSON text inside a JSON string."""
    value = parse_stored(text)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class EntitySnapshot:
    exists: bool
    state: Any = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None
