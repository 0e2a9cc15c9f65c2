"""Binding types the host implements, keyed by their function.json `type` (matched case-insensitively)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Problem(str):
    """One validation problem: a readable sentence that also carries the property and the fix.

    It is a `str` so validators can be plain `list[str]` producers; the loader reads `key` and `fix`
    to build an error that points at the exact property.
    """

    key: str | None
    message: str
    fix: str

    def __new__(cls, key: str | None, message: str, fix: str) -> Problem:
        prefix = f"{key}: " if key else ""
        self = super().__new__(cls, f"{prefix}{message.rstrip('.')}. Fix: {fix.rstrip('.')}.")
        self.key = key
        self.message = message
        self.fix = fix
        return self


Validator = Callable[[Mapping[str, Any]], list[str]]


def no_problems(binding: Mapping[str, Any]) -> list[str]:
    return []


@dataclass(frozen=True)
class BindingType:
    """What the host knows about one binding `type`."""

    name: str  # canonical spelling, e.g. "httpTrigger"
    is_trigger: bool
    allowed_directions: frozenset[str]
    validate: Validator = field(default=no_problems)


_TYPES: dict[str, BindingType] = {}


def register(binding_type: BindingType) -> BindingType:
    key = binding_type.name.lower()
    if key in _TYPES and _TYPES[key] is not binding_type:
        raise RuntimeError(f"binding type {binding_type.name!r} is registered twice")
    _TYPES[key] = binding_type
    return binding_type


def get_binding_type(type_name: str) -> BindingType | None:
    """The registered type for a function.json `type` value, ignoring case; None if unknown."""
    if not isinstance(type_name, str):
        return None
    return _TYPES.get(type_name.lower())


def known_binding_types() -> list[str]:
    """Canonical names of every registered binding type, sorted."""
    return sorted(t.name for t in _TYPES.values())
