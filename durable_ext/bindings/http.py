"""`httpTrigger` (a request under /api/) and the `http` output (its response)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_ext.bindings.props import optional_string, prop
from durable_ext.bindings.registry import BindingType, Problem, register

HTTP_TRIGGER = "httpTrigger"
HTTP_OUTPUT = "http"

HTTP_METHODS = frozenset({"get", "post", "put", "delete", "patch", "head", "options", "trace"})
AUTH_LEVELS = frozenset({"anonymous", "function", "admin"})


def validate_trigger(binding: Mapping[str, Any]) -> list[str]:
    return (
        _check_methods(binding)
        + _check_auth_level(binding)
        + optional_string(binding, "route", "orders/{id}")
    )


def _check_methods(binding: Mapping[str, Any]) -> list[str]:
    methods = prop(binding, "methods")
    if methods is None:
        return []  # absent means every method, as in the host
    fix = 'write it as "methods": ["get", "post"]'
    if not isinstance(methods, list):
        return [Problem("methods", f"must be a list of HTTP verbs, got {type(methods).__name__}", fix)]
    bad = [m for m in methods if not isinstance(m, str) or m.lower() not in HTTP_METHODS]
    if bad:
        allowed = ", ".join(sorted(HTTP_METHODS))
        return [Problem("methods", f"has unknown HTTP verbs {bad!r}", f"use only {allowed}")]
    return []


def _check_auth_level(binding: Mapping[str, Any]) -> list[str]:
    level = prop(binding, "authLevel")
    if level is None or (isinstance(level, str) and level.lower() in AUTH_LEVELS):
        return []
    return [Problem("authLevel", f"{level!r} is not an auth level", 'use "anonymous", "function" or "admin"')]


HTTP_TRIGGER_TYPE = register(
    BindingType(
        HTTP_TRIGGER, is_trigger=True, allowed_directions=frozenset({"in"}), validate=validate_trigger
    )
)
HTTP_OUTPUT_TYPE = register(BindingType(HTTP_OUTPUT, is_trigger=False, allowed_directions=frozenset({"out"})))
