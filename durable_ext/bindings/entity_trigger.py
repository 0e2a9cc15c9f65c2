"""`entityTrigger`: runs an entity's operations; `entityName` optionally renames it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_ext.app.spec import ENTITY_TRIGGER
from durable_ext.bindings.durable_triggers import check_durable_name
from durable_ext.bindings.props import prop
from durable_ext.bindings.registry import BindingType, Problem, register


def validate(binding: Mapping[str, Any]) -> list[str]:
    problems = check_durable_name(binding, "entityName", "Counter")
    name = prop(binding, "entityName")
    if not problems and isinstance(name, str) and "@" in name:
        # Entity ids are written "@name@key", so an '@' in the name makes ids ambiguous.
        problems.append(Problem("entityName", f"'{name}' contains '@'", "use a name without '@'"))
    return problems


ENTITY_TRIGGER_TYPE = register(
    BindingType(ENTITY_TRIGGER, is_trigger=True, allowed_directions=frozenset({"in"}), validate=validate)
)
