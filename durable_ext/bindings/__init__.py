"""Binding provider: the binding types this host implements and validation of a function's bindings."""

from durable_ext.bindings import (  # noqa: F401  (imported to register their binding types)
    activity_trigger,
    durable_client,
    entity_trigger,
    http,
    orchestration_trigger,
    queue,
    timer,
)
from durable_ext.bindings.registry import BindingType, Problem, get_binding_type, known_binding_types
from durable_ext.bindings.validation import validate_function_bindings

__all__ = [
    "BindingType",
    "Problem",
    "get_binding_type",
    "known_binding_types",
    "validate_function_bindings",
]
