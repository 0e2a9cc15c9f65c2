"""`activityTrigger`: runs an activity; `activity` optionally renames it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_ext.app.spec import ACTIVITY_TRIGGER
from durable_ext.bindings.durable_triggers import check_durable_name
from durable_ext.bindings.registry import BindingType, register


def validate(binding: Mapping[str, Any]) -> list[str]:
    return check_durable_name(binding, "activity", "SayHello")


ACTIVITY_TRIGGER_TYPE = register(
    BindingType(ACTIVITY_TRIGGER, is_trigger=True, allowed_directions=frozenset({"in"}), validate=validate)
)
