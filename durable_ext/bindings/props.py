"""Small readers and checks for binding properties (function.json keys are case-insensitive)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_ext.bindings.registry import Problem

_MISSING = object()


def prop(binding: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """A property by name, ignoring case; `None` values count as absent, as in the host."""
    wanted = key.lower()
    for k, v in binding.items():
        if isinstance(k, str) and k.lower() == wanted and v is not None:
            return v
    return default


def optional_string(binding: Mapping[str, Any], key: str, example: str) -> list[str]:
    value = prop(binding, key, _MISSING)
    if value is _MISSING or isinstance(value, str):
        return []
    return [Problem(key, f"must be a string, got {_describe(value)}", f'write it as "{key}": "{example}"')]


def required_string(binding: Mapping[str, Any], key: str, example: str) -> list[str]:
    value = prop(binding, key, _MISSING)
    if value is _MISSING:
        return [Problem(key, "is missing", f'add "{key}": "{example}" to the binding')]
    if not isinstance(value, str) or not value.strip():
        return [
            Problem(key, f"must be a non-empty string, got {_describe(value)}", f'set "{key}": "{example}"')
        ]
    return []


def optional_bool(binding: Mapping[str, Any], key: str) -> list[str]:
    value = prop(binding, key, _MISSING)
    if value is _MISSING or isinstance(value, bool):
        return []
    return [Problem(key, f"must be true or false, got {_describe(value)}", f'write "{key}": true or false')]


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"
