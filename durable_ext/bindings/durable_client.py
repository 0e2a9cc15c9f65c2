"""`durableClient` input (legacy name `orchestrationClient`): the JSON the SDK client is built from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_ext.bindings.props import optional_string
from durable_ext.bindings.registry import BindingType, register

DURABLE_CLIENT = "durableClient"
ORCHESTRATION_CLIENT = "orchestrationClient"


def validate(binding: Mapping[str, Any]) -> list[str]:
    return optional_string(binding, "taskHub", "MyTaskHub") + optional_string(
        binding, "connectionName", "AzureWebJobsStorage"
    )


DURABLE_CLIENT_TYPE = register(
    BindingType(DURABLE_CLIENT, is_trigger=False, allowed_directions=frozenset({"in"}), validate=validate)
)
ORCHESTRATION_CLIENT_TYPE = register(
    BindingType(
        ORCHESTRATION_CLIENT, is_trigger=False, allowed_directions=frozenset({"in"}), validate=validate
    )
)
