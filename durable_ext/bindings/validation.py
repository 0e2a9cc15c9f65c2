"""Checks a function's `bindings` array as the Functions host does, with errors that say how to fix them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_ext.app.errors import AppLoadError
from durable_ext.app.spec import BindingSpec
from durable_ext.bindings.registry import BindingType, Problem, get_binding_type, known_binding_types

DIRECTIONS = ("in", "out", "inout")
RETURN_NAME = "$return"
# The Python worker binds by parameter name, so a binding name must be usable as one.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_function_bindings(
    function_name: str, source: Path, bindings: list[Any]
) -> tuple[list[BindingSpec], list[str]]:
    """Typed bindings of one function, or an AppLoadError for the first problem found.

    The returned warnings are only ever about binding types this host does not implement: when the list is
    not empty the caller must skip the function (the rest of the app still runs).
    """
    where = _Where(function_name, source)
    specs: list[BindingSpec] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(bindings):
        spec, binding_type = _read_binding(where, i, raw)
        first = seen.setdefault(spec.name.lower(), i)
        if first != i:
            raise where.error(
                i,
                "name",
                f"'{spec.name}' is already used by bindings[{first}]",
                "give every binding a unique name",
            )
        if binding_type is None:
            warnings.append(
                f"function '{function_name}' ({source}): binding '{spec.name}' has type '{spec.type}', "
                f"which this host does not support (supported: {', '.join(known_binding_types())}); "
                "the function is skipped"
            )
        else:
            _check_type_specific(where, i, binding_type, spec)
        specs.append(spec)
    _check_one_trigger(where, specs)
    return specs, warnings


@dataclass(frozen=True)
class _Where:
    function: str
    source: Path

    def error(self, index: int | None, key: str | None, message: str, fix: str) -> AppLoadError:
        field = "bindings" if index is None else f"bindings[{index}]"
        if key:
            field = f"{field}.{key}"
        return AppLoadError(self.source, message, fix=fix, function=self.function, field=field)


def _read_binding(where: _Where, i: int, raw: Any) -> tuple[BindingSpec, BindingType | None]:
    """The properties every binding needs, whatever its type."""
    if not isinstance(raw, Mapping):
        raise where.error(
            i, None, f"must be an object, got {type(raw).__name__}", 'write it as {"name": ..., "type": ...}'
        )
    name = _prop(raw, "name")
    if not isinstance(name, str) or not name.strip():
        raise where.error(
            i, "name", "is missing or empty", 'add "name": the Python parameter this binding feeds'
        )
    if name != RETURN_NAME and not _NAME.match(name):
        raise where.error(
            i, "name", f"'{name}' is not a valid Python parameter name", "use letters, digits and '_'"
        )
    type_name = _prop(raw, "type")
    if not isinstance(type_name, str) or not type_name.strip():
        raise where.error(i, "type", "is missing", 'add "type", e.g. "httpTrigger" or "activityTrigger"')
    direction = _prop(raw, "direction")
    if direction is None:
        raise where.error(i, "direction", "is missing", 'add "direction": "in" (or "out" for an output)')
    if not isinstance(direction, str) or direction.lower() not in DIRECTIONS:
        raise where.error(i, "direction", f"{direction!r} is not a direction", 'use "in", "out" or "inout"')
    direction = direction.lower()
    if name == RETURN_NAME and direction != "out":
        raise where.error(
            i, "direction", "'$return' is only valid for an out binding", 'set "direction": "out"'
        )
    binding_type = get_binding_type(type_name)
    canonical = binding_type.name if binding_type else type_name
    return BindingSpec(name=name, type=canonical, direction=direction, raw=raw), binding_type


def _check_type_specific(where: _Where, i: int, binding_type: BindingType, spec: BindingSpec) -> None:
    if spec.direction not in binding_type.allowed_directions:
        allowed = " or ".join(f'"{d}"' for d in sorted(binding_type.allowed_directions))
        raise where.error(
            i,
            "direction",
            f"a {binding_type.name} binding cannot be '{spec.direction}'",
            f'set "direction": {allowed}',
        )
    for problem in binding_type.validate(spec.raw):
        if isinstance(problem, Problem):
            raise where.error(i, problem.key, problem.message, problem.fix)
        raise where.error(i, None, problem, f"see the {binding_type.name} binding reference")


def _check_one_trigger(where: _Where, specs: list[BindingSpec]) -> None:
    triggers = [(i, s) for i, s in enumerate(specs) if _is_trigger(s)]
    if not triggers:
        raise where.error(
            None,
            None,
            "has no trigger",
            "add exactly one trigger binding (e.g. httpTrigger, queueTrigger, timerTrigger, "
            "orchestrationTrigger, activityTrigger or entityTrigger)",
        )
    if len(triggers) > 1:
        listed = ", ".join(f"bindings[{i}] {s.type} '{s.name}'" for i, s in triggers)
        raise where.error(
            None,
            None,
            f"has {len(triggers)} triggers ({listed})",
            "keep one trigger and move the other to its own function",
        )


def _is_trigger(spec: BindingSpec) -> bool:
    binding_type = get_binding_type(spec.type)
    # Unknown types fall back to the host's naming convention ("...Trigger").
    return binding_type.is_trigger if binding_type else spec.is_trigger


def _prop(raw: Mapping[str, Any], key: str) -> Any:
    for k, v in raw.items():
        if isinstance(k, str) and k.lower() == key:
            return v
    return None
