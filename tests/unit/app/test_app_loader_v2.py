from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.functions.decorators.core import BindingDirection, DataType

from durable_ext.app.errors import AppLoadError
from durable_ext.app.indexing import plain_binding
from durable_ext.app.loader import LoadedApp, load_app

# The SDK warns about the v1 model and about df_loads without expected_type; neither is under test here.
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:azure.durable_functions"),
    pytest.mark.filterwarnings("ignore:azure.functions df_loads:DeprecationWarning"),
]

V2_FUNCTIONS = {"v2_shout", "v2_http_start", "v2_hello_orchestrator", "V2SayHello", "v2_counter", "v2_echo"}


@pytest.fixture
def app(fixture_app: Callable[[str], Path]) -> LoadedApp:
    return load_app(fixture_app("v2_basic"), settings={})


def test_indexes_decorated_functions_including_blueprints(app: LoadedApp) -> None:
    assert set(app.functions) == V2_FUNCTIONS
    assert "v2_basic_blueprint" in sys.modules  # absolute import of a sibling module
    assert all(f.source.name == "function_app.py" for f in app.functions.values())


def test_durable_names_come_from_decorator_arguments(app: LoadedApp) -> None:
    assert app.orchestrator("v2hello") is app.functions["v2_hello_orchestrator"]
    assert app.activity("V2SHOUT") is app.functions["v2_shout"]
    assert app.activity("v2sayhello") is app.functions["V2SayHello"]
    assert app.entity("v2counter") is app.functions["v2_counter"]
    assert app.orchestrator("v2_hello_orchestrator") is None


def test_bindings_are_plain_function_json_values(app: LoadedApp) -> None:
    start = app.functions["v2_http_start"]
    assert {(b.name, b.type, b.direction) for b in start.bindings} == {
        ("client", "durableClient", "in"),
        ("req", "httpTrigger", "in"),
        ("$return", "http", "out"),
    }
    assert start.trigger.name == "req"
    assert start.trigger.get("methods") == ["POST"]
    assert start.trigger.get("authLevel") == "anonymous"
    assert start.trigger.get("route") == "v2/start/{name}"
    echo = app.functions["v2_echo"]
    assert echo.trigger.get("authLevel") == "function"
    assert {f.name for f in app.http_functions()} == {"v2_http_start", "v2_echo"}


def test_user_functions_are_the_callables_the_worker_would_call(app: LoadedApp) -> None:
    assert app.functions["V2SayHello"].func("Ann") == "Hello Ann"
    assert hasattr(app.functions["v2_hello_orchestrator"].func, "orchestrator_function")
    assert hasattr(app.functions["v2_http_start"].func, "client_function")


def test_loading_the_same_app_twice_works(fixture_app: Callable[[str], Path]) -> None:
    load_app(fixture_app("v2_basic"), settings={})
    assert set(load_app(fixture_app("v2_basic"), settings={}).functions) == V2_FUNCTIONS


def test_filter_applies_to_v2_functions(fixture_app: Callable[[str], Path]) -> None:
    app = load_app(fixture_app("v2_basic"), functions_filter=["V2_ECHO"], settings={})
    assert set(app.functions) == {"v2_echo"}


def test_plain_binding_converts_enums() -> None:
    raw = {
        "direction": BindingDirection.INOUT,
        "dataType": DataType.STRING,
        "type": "x",
        "name": "n",
        "nothing": None,
        "list": [BindingDirection.OUT],
    }
    assert plain_binding(raw) == {
        "direction": "inout",
        "dataType": "string",
        "type": "x",
        "name": "n",
        "list": ["out"],
    }
    assert plain_binding({"direction": BindingDirection.IN})["direction"] == "in"


APP_HEADER = """
import azure.functions as func
import azure.durable_functions as df
"""


def test_function_app_wins_over_function_json_folders(make_app: Callable[[dict[str, str]], Path]) -> None:
    root = make_app(
        {
            "function_app.py": APP_HEADER
            + """
app = df.DFApp()

@app.activity_trigger(input_name="x")
def only_v2(x):
    return x
""",
            "Legacy/function.json": '{"bindings": [{"name": "x", "type": "activityTrigger", '
            '"direction": "in"}]}',
            "Legacy/__init__.py": "raise RuntimeError('must not be imported')\n",
        }
    )
    app = load_app(root, settings={})
    assert set(app.functions) == {"only_v2"}
    assert any("Legacy" in w and "ignored" in w for w in app.warnings)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("x = 1\n", "no top-level FunctionApp"),
        ("app = func.FunctionApp()\nother = df.DFApp()\n", "2 top-level function apps"),
        ("import not_a_real_module_xyz\n", "ModuleNotFoundError"),
        (
            """
app = df.DFApp()

@app.activity_trigger(input_name="x")
def same(x):
    return x

@app.function_name("same")
@app.activity_trigger(input_name="y")
def other(y):
    return y
""",
            "unique",
        ),
    ],
)
def test_v2_app_level_errors(make_app: Callable[[dict[str, str]], Path], body: str, words: str) -> None:
    root = make_app({"function_app.py": APP_HEADER + body})
    with pytest.raises(AppLoadError) as info:
        load_app(root, settings={})
    assert info.value.source == root.resolve() / "function_app.py"
    assert words in str(info.value)
    assert "Fix:" in str(info.value)


def test_orchestrator_context_must_be_named_context(make_app: Callable[[dict[str, str]], Path]) -> None:
    root = make_app(
        {
            "function_app.py": APP_HEADER
            + """
app = df.DFApp()

@app.orchestration_trigger(context_name="ctx")
def flow(ctx):
    yield ctx.call_activity("a", None)
"""
        }
    )
    with pytest.raises(AppLoadError) as info:
        load_app(root, settings={})
    err = info.value
    assert err.function == "flow"
    assert "'context'" in err.fix


def test_v2_orchestrator_named_with_at_sign_is_rejected(make_app: Callable[[dict[str, str]], Path]) -> None:
    root = make_app(
        {
            "function_app.py": APP_HEADER
            + """
app = df.DFApp()

@app.orchestration_trigger(context_name="context", orchestration="@evil")
def flow(context):
    yield context.call_activity("a", None)
"""
        }
    )
    with pytest.raises(AppLoadError) as info:
        load_app(root, settings={})
    assert info.value.field == "bindings[0].orchestration"
