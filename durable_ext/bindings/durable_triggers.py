"""Shared check for the three durable triggers: the name-override property must be a usable name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_ext.bindings.props import optional_string, prop
from durable_ext.bindings.registry import Problem


def check_durable_name(binding: Mapping[str, Any], key: str, example: str) -> list[str]:
    problems = optional_string(binding, key, example)
    value = prop(binding, key)
    if problems or value is None:
        return problems
    if not value.strip():
        return [
            Problem(key, "is empty", f'remove "{key}" to use the function name, or set it to "{example}"')
        ]
    return []
