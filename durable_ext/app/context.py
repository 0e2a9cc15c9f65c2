"""The objects the worker passes besides decoded inputs: `func.Context` and `func.Out`."""

from __future__ import annotations

import threading
import uuid
from typing import Any, TypeVar

import azure.functions as func

T = TypeVar("T")

# One per process, like the worker's: sync code sets `invocation_id` on it in the thread it runs on.
THREAD_LOCAL = threading.local()


class TraceContext:
    """W3C trace context for one invocation."""

    def __init__(
        self, trace_parent: str | None = None, trace_state: str = "", attributes: dict[str, str] | None = None
    ):
        self._trace_parent = trace_parent or f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00"
        self._trace_state = trace_state
        self._attributes = dict(attributes or {})

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes


class InvocationContext(func.Context):
    """What a `context` parameter that is not a binding receives."""

    def __init__(
        self,
        *,
        invocation_id: str,
        function_name: str,
        function_directory: str,
        trace_context: TraceContext | None = None,
        retry_context: Any = None,
    ) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = trace_context or TraceContext()
        self._retry_context = retry_context

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return self._trace_context

    @property
    def retry_context(self) -> Any:
        return self._retry_context

    @property
    def thread_local_storage(self) -> Any:
        return THREAD_LOCAL


class Out(func.Out[T]):
    """An output parameter: user code calls `set`, the invoker encodes `get()` afterwards."""

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, val: T) -> None:
        self._value = val

    def get(self) -> T:
        return self._value  # type: ignore[return-value]
