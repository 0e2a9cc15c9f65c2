"""`orchestrationTrigger`: runs an orchestrator; `orchestration` optionally renames it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_ext.app.spec import ORCHESTRATION_TRIGGER
from durable_ext.bindings.durable_triggers import check_durable_name
from durable_ext.bindings.props import prop
from durable_ext.bindings.registry import BindingType, Problem, register


def validate(binding: Mapping[str, Any]) -> list[str]:
    problems = check_durable_name(binding, "orchestration", "HelloOrchestrator")
    name = prop(binding, "orchestration")
    if not problems and isinstance(name, str) and name.startswith("@"):
        # '@' prefixes entity instance ids, so the extension refuses such orchestrator names.
        problems.append(
            Problem(
                "orchestration", f"'{name}' starts with '@', which is reserved for entities", "drop the '@'"
            )
        )
    return problems


ORCHESTRATION_TRIGGER_TYPE = register(
    BindingType(
        ORCHESTRATION_TRIGGER, is_trigger=True, allowed_directions=frozenset({"in"}), validate=validate
    )
)
