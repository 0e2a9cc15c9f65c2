"""Typed description of a loaded Functions app: functions, their bindings, and invocation I/O."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from azure.functions.meta import Datum

# Binding types whose function the durable engine dispatches (not HTTP or queues).
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"

# The trigger property that renames the durable function (the SDK's `orchestration=`, `activity=`,
# `entity_name=`); lookups by these names are case-insensitive, as in the .NET extension.
DURABLE_NAME_PROPERTY = {
    ORCHESTRATION_TRIGGER: "orchestration",
    ACTIVITY_TRIGGER: "activity",
    ENTITY_TRIGGER: "entityName",
}


@dataclass(frozen=True)
class BindingSpec:
    """One entry of a function's `bindings` array, as written by the user."""

    name: str
    type: str
    direction: str  # "in", "out" or "inout", lower-cased
    raw: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """A binding property by name, matched case-insensitively (function.json is case-insensitive)."""
        for k, v in self.raw.items():
            if k.lower() == key.lower():
                return v
        return default

    @property
    def is_trigger(self) -> bool:
        return self.type.lower().endswith("trigger")


@dataclass(frozen=True)
class FunctionSpec:
    """A function the host can invoke."""

    name: str
    source: Path  # function.json, or function_app.py for v2 apps; named in every error message
    trigger: BindingSpec
    bindings: tuple[BindingSpec, ...]
    func: Callable[..., Any]

    @property
    def durable_name(self) -> str:
        """The name the durable engine knows this function by (the trigger's override, else the name)."""
        prop = DURABLE_NAME_PROPERTY.get(self.trigger.type)
        override = self.trigger.get(prop) if prop else None
        return str(override) if override else self.name


_INVOCATION_IDS = random.Random()  # seeded from the OS once


def new_invocation_id() -> str:
    """A random UUID (version 4) as text. Ids need to be unique, not secret: this skips the system
    call `uuid.uuid4` makes for each one, which shows in every activity and episode."""
    return str(uuid.UUID(int=_INVOCATION_IDS.getrandbits(128), version=4))


@dataclass(frozen=True)
class InvocationRequest:
    """What the host hands user code: one Datum per input binding name (trigger included)."""

    function: FunctionSpec
    inputs: Mapping[str, Datum]
    invocation_id: str
    trigger_metadata: Mapping[str, Datum] | None = None


@dataclass
class InvocationResult:
    """What came back: the `$return` value and named `func.Out` outputs as Datums, or the error."""

    return_value: Datum | None = None
    outputs: dict[str, Datum] = field(default_factory=dict)
    error: BaseException | None = None
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class Invoker(Protocol):
    """Runs one function. In-process today; a worker-process invoker can implement the same call."""

    async def invoke(
        self, request: InvocationRequest, *, executor: Executor | None = None
    ) -> InvocationResult:
        """Sync user code runs on `executor` (default: the invoker's pool); async code on the loop."""
        ...
