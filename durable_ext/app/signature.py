"""How a function's Python parameters map onto its bindings, with the Python worker's rules.

Used twice: the loader checks it up front (a mismatch is a load error, as in the worker) and the invoker
uses the resulting plan to build arguments.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from azure.functions.meta import get_binding_registry

from durable_ext.app.spec import ENTITY_TRIGGER, ORCHESTRATION_TRIGGER, BindingSpec, FunctionSpec

RETURN_NAME = "$return"
CONTEXT_PARAM = "context"


class SignatureError(ValueError):
    """The function's parameters and its bindings disagree."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class ParamPlan:
    """Which binding feeds each parameter, and how the return value leaves."""

    inputs: Mapping[str, BindingSpec]  # parameter -> trigger or "in" binding
    outputs: Mapping[str, BindingSpec]  # parameter -> "out" binding, passed as func.Out
    raw_inputs: frozenset[str]  # inputs annotated str/bytes: the worker passes the raw value
    wants_context: bool  # a `context` parameter that is not a binding gets func.Context
    return_binding: BindingSpec | None  # `$return`, else a trigger with implicit output
    is_async: bool


def plan_parameters(spec: FunctionSpec) -> ParamPlan:
    """The argument plan for `spec`, or SignatureError explaining the mismatch."""
    func = spec.func
    try:
        params = {
            name: p
            for name, p in inspect.signature(func).parameters.items()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
    except (TypeError, ValueError) as exc:
        raise SignatureError(
            f"cannot read the parameters of {func!r}: {exc}", "point it at a Python function"
        ) from None
    annotations = _annotations(func)

    bound: dict[str, BindingSpec] = {}
    return_binding: BindingSpec | None = None
    for b in spec.bindings:
        if b.direction == "inout":
            raise SignatureError(
                f"binding '{b.name}' is 'inout', which Python functions do not support", _SPLIT_INOUT
            )
        if b.name == RETURN_NAME:
            return_binding = b
        else:
            bound[b.name] = b
    if return_binding is None and _has_implicit_output(spec.trigger.type):
        return_binding = spec.trigger

    wants_context = CONTEXT_PARAM in params and CONTEXT_PARAM not in bound
    if wants_context:
        params.pop(CONTEXT_PARAM)
    _check_names_match(spec, set(params), bound, wants_context)
    if wants_context:
        _check_context_annotation(annotations.get(CONTEXT_PARAM))

    inputs: dict[str, BindingSpec] = {}
    outputs: dict[str, BindingSpec] = {}
    raw: set[str] = set()
    for name in params:
        b = bound[name]
        anno = annotations.get(name)
        is_out_anno = _is_out(anno)
        if b.direction == "out":
            if anno is not None and not is_out_anno:
                raise SignatureError(
                    f"binding '{name}' is an output but its parameter is annotated {anno!r}",
                    "annotate it as func.Out[...] (or drop the annotation)",
                )
            outputs[name] = b
            continue
        if is_out_anno:
            raise SignatureError(
                f"binding '{name}' is an input but its parameter is annotated func.Out",
                'drop the Out annotation, or make the binding "direction": "out"',
            )
        if anno in (str, bytes) and not _has_implicit_output(b.type):
            raw.add(name)
        inputs[name] = b

    return ParamPlan(
        inputs=inputs,
        outputs=outputs,
        raw_inputs=frozenset(raw),
        wants_context=wants_context,
        return_binding=return_binding,
        is_async=inspect.iscoroutinefunction(func),
    )


_SPLIT_INOUT = 'use one "in" and one "out" binding instead'


def _check_names_match(
    spec: FunctionSpec, params: set[str], bound: Mapping[str, BindingSpec], has_free_context: bool
) -> None:
    extra_params = sorted(params - set(bound))
    missing_params = sorted(set(bound) - params)
    trigger = spec.trigger
    if (
        trigger.type in (ORCHESTRATION_TRIGGER, ENTITY_TRIGGER)
        and trigger.name in missing_params
        and has_free_context
    ):
        # The SDK's generated handle always takes `context`, so the trigger must be named that.
        raise SignatureError(
            f"the {trigger.type} binding is named '{trigger.name}', but the SDK handle's parameter "
            "is named 'context'",
            "name the trigger binding 'context' (context_name=\"context\" in the decorator)",
        )
    if extra_params:
        raise SignatureError(
            f"parameters {extra_params} have no binding",
            "add a binding with that name, or remove the parameter",
        )
    if missing_params:
        raise SignatureError(
            f"bindings {missing_params} have no matching parameter",
            "add a parameter with the binding's name to the Python function",
        )


def _check_context_annotation(anno: Any) -> None:
    if anno is None or not isinstance(anno, type) or anno.__name__ == "Context":
        return
    raise SignatureError(
        f"the 'context' parameter is annotated {anno.__name__}, not azure.functions.Context",
        "annotate it as func.Context, or rename it and add a binding",
    )


def _annotations(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:
        # Unresolvable string annotations: keep only the ones that are already objects.
        raw = getattr(func, "__annotations__", {}) or {}
        return {k: v for k, v in raw.items() if not isinstance(v, str)}


def _is_out(anno: Any) -> bool:
    if anno is None:
        return False
    origin = typing.get_origin(anno) or anno
    return isinstance(origin, type) and origin.__name__ == "Out"


def _has_implicit_output(binding_type: str) -> bool:
    converter = get_binding_registry().get(binding_type)
    return bool(converter is not None and getattr(converter, "has_implicit_output", lambda: False)())
