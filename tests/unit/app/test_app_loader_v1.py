from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from durable_ext.app.loader import LoadedApp, load_app

# The SDK warns about the v1 model and about df_loads without expected_type; neither is under test here.
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:azure.durable_functions"),
    pytest.mark.filterwarnings("ignore:azure.functions df_loads:DeprecationWarning"),
]


SCRIPT_ROOT_SETTING = "AzureWebJobsScriptRoot"  # spelled as the Functions host spells it
V1_FUNCTIONS = {
    "V1Counter",
    "V1Fail",
    "V1HelloOrchestrator",
    "V1HttpStart",
    "V1Ping",
    "V1QueueCopy",
    "V1Renamed",
    "V1SayHello",
}


@pytest.fixture
def app(fixture_app: Callable[[str], Path]) -> LoadedApp:
    return load_app(fixture_app("v1_basic"), settings={})


def test_finds_every_function_folder(app: LoadedApp) -> None:
    assert set(app.functions) == V1_FUNCTIONS
    assert app.script_root is not None and app.script_root.name == "v1_basic"


def test_disabled_function_is_skipped_with_a_warning_and_never_imported(app: LoadedApp) -> None:
    assert "V1Disabled" not in app.functions
    assert any("V1Disabled" in w and "disabled" in w for w in app.warnings)


def test_durable_lookups_ignore_case(app: LoadedApp) -> None:
    assert app.orchestrator("v1helloorchestrator") is app.functions["V1HelloOrchestrator"]
    assert app.activity("V1SAYHELLO") is app.functions["V1SayHello"]
    assert app.entity("v1counter") is app.functions["V1Counter"]
    assert app.orchestrator("V1SayHello") is None  # an activity is not an orchestrator
    assert app.activity("nope") is None


def test_trigger_property_renames_the_durable_function(app: LoadedApp) -> None:
    spec = app.functions["V1Renamed"]
    assert spec.durable_name == "V1RenamedFlow"
    assert app.orchestrator("v1renamedflow") is spec
    assert app.orchestrator("V1Renamed") is None


def test_types_are_canonical_and_directions_lower_case(app: LoadedApp) -> None:
    trigger = app.functions["V1Renamed"].trigger  # written "OrchestrationTrigger" / "IN"
    assert (trigger.type, trigger.direction) == ("orchestrationTrigger", "in")
    start = app.functions["V1HttpStart"]
    assert [(b.name, b.type, b.direction) for b in start.bindings] == [
        ("req", "httpTrigger", "in"),
        ("$return", "http", "out"),
        ("starter", "durableClient", "in"),
    ]
    assert start.trigger.get("route") == "v1/orchestrators/{functionName}"
    assert start.source.name == "function.json" and start.source.parent.name == "V1HttpStart"


def test_trigger_type_queries(app: LoadedApp) -> None:
    assert {f.name for f in app.http_functions()} == {"V1HttpStart", "V1Ping"}
    assert [f.name for f in app.functions_by_trigger_type("QUEUETRIGGER")] == ["V1QueueCopy"]
    assert {f.name for f in app.functions_by_trigger_type("activityTrigger")} == {"V1SayHello", "V1Fail"}


def test_shared_code_imports_through_sys_path_and_relative_imports(app: LoadedApp) -> None:
    root = str(app.script_root)
    assert root in sys.path
    assert "v1_shared.greetings" in sys.modules  # `from v1_shared.greetings import greet`
    assert (
        app.functions["V1SayHello"].func("Tokyo") == "Hello Tokyo!"
    )  # also uses `from . import punctuation`
    assert app.functions["V1Renamed"].func  # `from ..v1_shared.greetings import greet`


def test_entry_point_and_script_file_options(app: LoadedApp) -> None:
    func = app.functions["V1Renamed"].func
    assert func.__module__.startswith("azure.durable_functions")  # df.Orchestrator.create's handle
    module = sys.modules[app.functions["V1SayHello"].func.__module__]
    assert module.__file__ is not None and module.__file__.endswith("V1SayHello/__init__.py")


def test_script_root_setting_is_set_when_missing(
    fixture_app: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SCRIPT_ROOT_SETTING, raising=False)
    load_app(fixture_app("v1_basic"), settings={})
    assert os.environ.get(SCRIPT_ROOT_SETTING) == str(fixture_app("v1_basic").resolve())


def test_functions_filter_keeps_listed_names(fixture_app: Callable[[str], Path]) -> None:
    app = load_app(
        fixture_app("v1_basic"), functions_filter=["V1SayHello", "v1counter", "Missing"], settings={}
    )
    assert set(app.functions) == {"V1SayHello", "V1Counter"}
    assert any("'Missing'" in w for w in app.warnings)


def test_app_setting_disables_a_function(fixture_app: Callable[[str], Path]) -> None:
    app = load_app(fixture_app("v1_basic"), settings={"AzureWebJobs.V1Fail.Disabled": "true"})
    assert "V1Fail" not in app.functions
    assert any("AzureWebJobs.V1Fail.Disabled" in w for w in app.warnings)


def test_disabled_can_name_an_app_setting(make_app: Callable[[dict[str, str]], Path]) -> None:
    root = make_app(
        {
            "Off/function.json": json.dumps(
                {
                    "disabled": "%OFF%",
                    "bindings": [{"name": "x", "type": "activityTrigger", "direction": "in"}],
                }
            ),
            "Off/__init__.py": "def main(x): return x\n",
        }
    )
    assert "Off" not in load_app(root, settings={"OFF": "1"}).functions
    assert "Off" in load_app(root, settings={"OFF": "false"}).functions


def test_two_copies_of_an_app_get_separate_modules(app: LoadedApp, tmp_path: Path) -> None:
    assert app.script_root is not None
    copy_root = tmp_path / "copy"
    shutil.copytree(app.script_root, copy_root)
    copy = load_app(copy_root, settings={})
    original = app.functions["V1SayHello"].func
    copied = copy.functions["V1SayHello"].func
    assert original is not copied
    assert original.__module__ != copied.__module__
    assert copied("Oslo") == "Hello Oslo!"


def test_loading_twice_is_stable(fixture_app: Callable[[str], Path]) -> None:
    first = load_app(fixture_app("v1_basic"), settings={})
    second = load_app(fixture_app("v1_basic"), settings={})
    assert set(first.functions) == set(second.functions)
    assert first.functions["V1SayHello"].func is second.functions["V1SayHello"].func
