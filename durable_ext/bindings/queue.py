"""`queueTrigger` (a storage-queue message starts the function) and the `queue` output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_ext.bindings.props import optional_string, required_string
from durable_ext.bindings.registry import BindingType, register

QUEUE_TRIGGER = "queueTrigger"
QUEUE_OUTPUT = "queue"


def validate(binding: Mapping[str, Any]) -> list[str]:
    return required_string(binding, "queueName", "my-queue") + optional_string(
        binding, "connection", "AzureWebJobsStorage"
    )


QUEUE_TRIGGER_TYPE = register(
    BindingType(QUEUE_TRIGGER, is_trigger=True, allowed_directions=frozenset({"in"}), validate=validate)
)
QUEUE_OUTPUT_TYPE = register(
    BindingType(QUEUE_OUTPUT, is_trigger=False, allowed_directions=frozenset({"out"}), validate=validate)
)
