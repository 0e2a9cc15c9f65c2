from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from durable_ext.app.errors import AppLoadError
from durable_ext.bindings import Problem, get_binding_type, validate_function_bindings

SOURCE = Path("/apps/demo/Fn/function.json")


def validate(bindings: list[Any]) -> tuple[list[Any], list[str]]:
    return validate_function_bindings("Fn", SOURCE, bindings)


def error_for(bindings: list[Any]) -> AppLoadError:
    with pytest.raises(AppLoadError) as info:
        validate(bindings)
    return info.value


def http_trigger(**extra: Any) -> dict[str, Any]:
    return {"name": "req", "type": "httpTrigger", "direction": "in", **extra}


def test_valid_bindings_become_specs_with_canonical_type_and_lower_direction() -> None:
    specs, warnings = validate(
        [
            {
                "Name": "req",
                "Type": "HTTPTRIGGER",
                "Direction": "IN",
                "methods": ["GET", "post"],
                "authLevel": "Admin",
            },
            {"name": "$return", "type": "http", "direction": "Out"},
            {"name": "starter", "type": "durableClient", "direction": "in"},
        ]
    )
    assert warnings == []
    assert [(s.name, s.type, s.direction) for s in specs] == [
        ("req", "httpTrigger", "in"),
        ("$return", "http", "out"),
        ("starter", "durableClient", "in"),
    ]
    assert specs[0].get("METHODS") == ["GET", "post"]


def test_error_line_names_file_function_field_and_fix() -> None:
    err = error_for([http_trigger(), {"type": "http", "direction": "out"}])
    assert err.source == SOURCE
    assert err.function == "Fn"
    assert err.field == "bindings[1].name"
    assert str(err).startswith(f"{SOURCE}: function 'Fn': bindings[1].name: ")
    assert "Fix:" in str(err)


@pytest.mark.parametrize(
    ("bindings", "field", "words"),
    [
        (["not an object"], "bindings[0]", "must be an object"),
        ([{"type": "httpTrigger", "direction": "in", "name": ""}], "bindings[0].name", "missing or empty"),
        ([{"type": "httpTrigger", "direction": "in", "name": "my-req"}], "bindings[0].name", "not a valid"),
        ([{"name": "req", "direction": "in"}], "bindings[0].type", "missing"),
        ([{"name": "req", "type": "httpTrigger"}], "bindings[0].direction", "missing"),
        (
            [{"name": "req", "type": "httpTrigger", "direction": "sideways"}],
            "bindings[0].direction",
            "not a direction",
        ),
        (
            [http_trigger(), {"name": "$return", "type": "http", "direction": "in"}],
            "bindings[1].direction",
            "$return",
        ),
        (
            [http_trigger(), {"name": "REQ", "type": "durableClient", "direction": "in"}],
            "bindings[1].name",
            "already",
        ),
        ([{"name": "client", "type": "durableClient", "direction": "in"}], "bindings", "no trigger"),
        (
            [http_trigger(), {"name": "msg", "type": "queueTrigger", "direction": "in", "queueName": "q"}],
            "bindings",
            "2 triggers",
        ),
        ([http_trigger(methods="GET")], "bindings[0].methods", "list of HTTP verbs"),
        ([http_trigger(methods=["GET", "FETCH"])], "bindings[0].methods", "FETCH"),
        ([http_trigger(authLevel="public")], "bindings[0].authLevel", "not an auth level"),
        ([http_trigger(route=5)], "bindings[0].route", "string"),
        ([{"name": "msg", "type": "queueTrigger", "direction": "in"}], "bindings[0].queueName", "missing"),
        (
            [{"name": "ctx", "type": "orchestrationTrigger", "direction": "out"}],
            "bindings[0].direction",
            "cannot be",
        ),
        (
            [{"name": "x", "type": "activityTrigger", "direction": "inout"}],
            "bindings[0].direction",
            "cannot be",
        ),
        (
            [{"name": "context", "type": "orchestrationTrigger", "direction": "in", "orchestration": "@Bad"}],
            "bindings[0].orchestration",
            "starts with '@'",
        ),
        (
            [{"name": "context", "type": "entityTrigger", "direction": "in", "entityName": "a@b"}],
            "bindings[0].entityName",
            "'@'",
        ),
        ([{"name": "t", "type": "timerTrigger", "direction": "in"}], "bindings[0].schedule", "missing"),
        (
            [{"name": "t", "type": "timerTrigger", "direction": "in", "schedule": "every day"}],
            "bindings[0].schedule",
            "",
        ),
        (
            [http_trigger(), {"name": "out", "type": "http", "direction": "in"}],
            "bindings[1].direction",
            "cannot be",
        ),
    ],
)
def test_each_problem_is_one_error_with_a_fix(bindings: list[Any], field: str, words: str) -> None:
    err = error_for(bindings)
    assert err.field == field
    assert words in err.message
    assert err.fix
    assert str(err).endswith(".")


def test_return_name_is_fine_for_out_bindings() -> None:
    specs, _ = validate([http_trigger(), {"name": "$return", "type": "http", "direction": "out"}])
    assert specs[1].name == "$return"


@pytest.mark.parametrize("schedule", ["0 */5 * * * *", "*/5 * * * *", "00:05:00", "%TimerSchedule%"])
def test_timer_schedules_that_pass(schedule: str) -> None:
    specs, _ = validate([{"name": "t", "type": "timerTrigger", "direction": "in", "schedule": schedule}])
    assert specs[0].type == "timerTrigger"


def test_unknown_type_is_a_warning_naming_function_binding_and_type() -> None:
    specs, warnings = validate([{"name": "blob", "type": "blobTrigger", "direction": "in", "path": "c/{n}"}])
    assert [s.type for s in specs] == ["blobTrigger"]
    assert len(warnings) == 1
    assert "'Fn'" in warnings[0] and "'blob'" in warnings[0] and "'blobTrigger'" in warnings[0]


def test_unknown_input_next_to_a_known_trigger_is_a_warning_too() -> None:
    _, warnings = validate(
        [
            {"name": "msg", "type": "queueTrigger", "direction": "in", "queueName": "q"},
            {"name": "doc", "type": "cosmosDB", "direction": "in"},
        ]
    )
    assert len(warnings) == 1 and "cosmosDB" in warnings[0]


def test_validators_return_problems_that_are_plain_strings() -> None:
    binding_type = get_binding_type("queueTrigger")
    assert binding_type is not None
    problems = binding_type.validate({"name": "m", "type": "queueTrigger", "direction": "in"})
    assert len(problems) == 1
    assert isinstance(problems[0], str) and isinstance(problems[0], Problem)
    assert problems[0].startswith("queueName: is missing")
    assert "Fix:" in problems[0]
