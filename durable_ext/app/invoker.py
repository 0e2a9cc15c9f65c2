"""Runs user functions in this process, converting through azure.functions' converters as the worker does."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from azure.functions.meta import Datum, get_binding_registry

from durable_ext.app.context import THREAD_LOCAL, InvocationContext, Out
from durable_ext.app.signature import ParamPlan, plan_parameters
from durable_ext.app.spec import BindingSpec, FunctionSpec, InvocationRequest, InvocationResult, Invoker
from durable_ext.threads import run_on

T = TypeVar("T")


class InlineExecutor(Executor):
    """Runs each call at once on the submitting thread (the event loop's, for orchestrator code)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting caller, as a pool thread would
            future.set_exception(exc)
        return future


class InProcessInvoker:
    """Implements `Invoker`: sync functions on a thread pool, `async def` functions on the running loop."""

    def __init__(self, max_workers: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="durable-ext-fn")
        self._plans: dict[int, tuple[FunctionSpec, ParamPlan]] = {}

    async def invoke(
        self, request: InvocationRequest, *, executor: Executor | None = None
    ) -> InvocationResult:
        started = time.perf_counter()
        result = InvocationResult()
        try:
            plan = self._plan(request.function)
            if plan.is_async:
                THREAD_LOCAL.invocation_id = request.invocation_id
                args, outs = _decode_arguments(request, plan)
                value = await request.function.func(**args)
                _encode_results(plan, value, outs, result)
            else:
                call = functools.partial(_run_sync, request, plan, result)
                if isinstance(executor, InlineExecutor):
                    call()  # no future to wrap and no loop wake-up to wait for
                else:
                    await run_on(executor or self._pool, call)
        except (Exception, SystemExit) as exc:  # user code must never take the host down
            result.error = exc
            result.return_value = None
            result.outputs = {}
        result.duration_ms = (time.perf_counter() - started) * 1000.0
        return result

    def close(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)

    def _plan(self, spec: FunctionSpec) -> ParamPlan:
        cached = self._plans.get(id(spec))
        if cached is not None and cached[0] is spec:
            return cached[1]
        plan = plan_parameters(spec)
        self._plans[id(spec)] = (spec, plan)  # keeps `spec` alive, so its id is not reused
        return plan


def _run_sync(request: InvocationRequest, plan: ParamPlan, result: InvocationResult) -> None:
    # Decoding and encoding run on the same thread as the user code, keeping the event loop free.
    THREAD_LOCAL.invocation_id = request.invocation_id
    args, outs = _decode_arguments(request, plan)
    value = request.function.func(**args)
    _encode_results(plan, value, outs, result)


def _decode_arguments(
    request: InvocationRequest, plan: ParamPlan
) -> tuple[dict[str, Any], dict[str, Out[Any]]]:
    spec = request.function
    args: dict[str, Any] = {}
    for param, binding in plan.inputs.items():
        datum = request.inputs.get(binding.name)
        if datum is None:
            raise LookupError(f"the host sent no data for binding '{binding.name}' of function '{spec.name}'")
        # The worker hands trigger metadata to the trigger only, and an empty mapping otherwise.
        metadata = dict(request.trigger_metadata or {}) if binding.name == spec.trigger.name else {}
        if param in plan.raw_inputs:
            args[param] = _generic_decode(datum)
        else:
            args[param] = _decode(binding, datum, metadata)
    outs: dict[str, Out[Any]] = {param: Out() for param in plan.outputs}
    args.update(outs)
    if plan.wants_context:
        args["context"] = InvocationContext(
            invocation_id=request.invocation_id,
            function_name=spec.name,
            function_directory=str(spec.source.parent),
        )
    return args, outs


def _encode_results(
    plan: ParamPlan, value: Any, outs: Mapping[str, Out[Any]], result: InvocationResult
) -> None:
    outputs: dict[str, Datum] = {}
    for param, out in outs.items():
        obj = out.get()
        if obj is not None:  # an unset output is simply not sent, as in the worker
            outputs[plan.outputs[param].name] = _encode(plan.outputs[param], obj)
    result.outputs = outputs
    # Without a `$return` or implicit-output binding the worker has nowhere to send a return value.
    result.return_value = _encode(plan.return_binding, value) if plan.return_binding else None


def _decode(binding: BindingSpec, datum: Datum, metadata: dict[str, Datum]) -> Any:
    converter = get_binding_registry().get(binding.type)
    if converter is None:
        return _generic_decode(datum)
    try:
        return converter.decode(datum, trigger_metadata=metadata)
    except NotImplementedError:
        raise TypeError(
            f"cannot decode the input of binding '{binding.name}': a {binding.type} binding does not accept "
            f"{datum.type!r} data"
        ) from None


def _encode(binding: BindingSpec, obj: Any) -> Datum:
    converter = get_binding_registry().get(binding.type)
    encode: Callable[..., Datum] = converter.encode if converter is not None else _generic_encode
    try:
        datum = encode(obj, expected_type=None)
    except NotImplementedError:
        raise TypeError(
            f"cannot send {type(obj).__name__} to binding '{binding.name}': "
            f"a {binding.type} binding does not accept that type"
        ) from None
    return datum


def _generic_decode(datum: Datum) -> Any:
    """The worker's generic binding: string, bytes and JSON text pass through unchanged."""
    if datum.type in ("string", "bytes", "json", None):
        return datum.value
    raise ValueError(f"unexpected {datum.type!r} data for a binding without a converter")


def _generic_encode(obj: Any, *, expected_type: type | None = None) -> Datum:
    if isinstance(obj, str):
        return Datum(obj, "string")
    if isinstance(obj, (bytes, bytearray)):
        return Datum(bytes(obj), "bytes")
    if isinstance(obj, bool):
        return Datum(obj, "bool")
    if isinstance(obj, int):
        return Datum(obj, "int")
    if isinstance(obj, float):
        return Datum(obj, "double")
    if isinstance(obj, dict):
        return Datum(obj, "dict")
    if isinstance(obj, list):
        return Datum(obj, "list")
    raise NotImplementedError


if TYPE_CHECKING:
    _: Invoker = InProcessInvoker()  # mypy checks the class against the protocol
