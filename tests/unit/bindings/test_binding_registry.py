from __future__ import annotations

import pytest

from durable_ext.bindings import BindingType, get_binding_type, known_binding_types

EXPECTED = {
    "orchestrationTrigger": (True, {"in"}),
    "activityTrigger": (True, {"in"}),
    "entityTrigger": (True, {"in"}),
    "durableClient": (False, {"in"}),
    "orchestrationClient": (False, {"in"}),
    "httpTrigger": (True, {"in"}),
    "http": (False, {"out"}),
    "queueTrigger": (True, {"in"}),
    "queue": (False, {"out"}),
    "timerTrigger": (True, {"in"}),
}


def test_every_supported_type_is_registered() -> None:
    assert set(known_binding_types()) == set(EXPECTED)
    assert known_binding_types() == sorted(known_binding_types())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_registered_type_shape(name: str) -> None:
    binding_type = get_binding_type(name)
    assert isinstance(binding_type, BindingType)
    assert binding_type.name == name
    is_trigger, directions = EXPECTED[name]
    assert binding_type.is_trigger is is_trigger
    assert set(binding_type.allowed_directions) == directions


@pytest.mark.parametrize("spelling", ["HTTPTRIGGER", "httptrigger", "HttpTrigger"])
def test_lookup_ignores_case_and_keeps_canonical_name(spelling: str) -> None:
    binding_type = get_binding_type(spelling)
    assert binding_type is not None
    assert binding_type.name == "httpTrigger"


def test_unknown_type_is_none() -> None:
    assert get_binding_type("blobTrigger") is None
    assert get_binding_type("") is None
