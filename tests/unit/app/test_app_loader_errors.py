from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from durable_ext.app.errors import AppLoadError
from durable_ext.app.loader import load_app

# The SDK warns about the v1 model and about df_loads without expected_type; neither is under test here.
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:azure.durable_functions"),
    pytest.mark.filterwarnings("ignore:azure.functions df_loads:DeprecationWarning"),
]


@pytest.mark.parametrize(
    ("app_name", "function", "field", "words"),
    [
        ("bad_json", "BadJson", "line 4 column 3", "invalid JSON"),
        ("missing_name", "MissingName", "bindings[1].name", "missing"),
        ("two_triggers", "TwoTriggers", "bindings", "2 triggers"),
        ("missing_entry", "MissingEntry", "entryPoint", "callables there: helper, run"),
        ("import_error", "ImportErr", "scriptFile", "KeyError: 'limit' (at ImportErr/__init__.py:4)"),
    ],
)
def test_bad_fixture_apps(
    fixture_app: Callable[[str], Path], app_name: str, function: str, field: str, words: str
) -> None:
    root = fixture_app(app_name)
    with pytest.raises(AppLoadError) as info:
        load_app(root, settings={})
    err = info.value
    text = str(err)
    assert err.source == root.resolve() / function / "function.json"
    assert err.function == function
    assert err.field == field
    assert text.startswith(f"{err.source}: function '{function}': {field}: ")
    assert words in text
    assert "Fix:" in text
    assert "\n" not in text
    assert "Traceback" not in text


def test_unknown_binding_type_skips_only_that_function(fixture_app: Callable[[str], Path]) -> None:
    app = load_app(fixture_app("unknown_binding"), settings={})
    assert set(app.functions) == {"UbPing"}
    assert len(app.warnings) == 1
    warning = app.warnings[0]
    assert "'UbBlob'" in warning and "'blob'" in warning and "'blobTrigger'" in warning


def fj(*bindings: dict[str, Any]) -> str:
    return json.dumps({"bindings": list(bindings)})


ACTIVITY_JSON = '{"bindings": [{"name": "x", "type": "activityTrigger", "direction": "in"}]}'


def load_error(root: Path) -> AppLoadError:
    with pytest.raises(AppLoadError) as info:
        load_app(root, settings={})
    return info.value


@pytest.mark.parametrize(
    ("files", "field", "words"),
    [
        ({"F/function.json": ACTIVITY_JSON}, "scriptFile", "does not exist"),
        (
            {"F/function.json": '{"scriptFile": "run.py", "bindings": []}', "F/run.py": ""},
            "bindings",
            "no trigger",
        ),
        (
            {"F/function.json": '{"bindings": {"name": "x"}}', "F/__init__.py": ""},
            "bindings",
            "must be a list",
        ),
        ({"F/function.json": "{}", "F/__init__.py": ""}, "bindings", "missing"),
        ({"F/function.json": "[1, 2]", "F/__init__.py": ""}, None, "JSON object"),
        ({"F/function.json": ACTIVITY_JSON, "F/__init__.py": "main = 5\n"}, "entryPoint", "not callable"),
        (
            {"F/function.json": ACTIVITY_JSON, "F/__init__.py": "def main(x, y):\n    pass\n"},
            "bindings",
            "['y']",
        ),
        ({"F/function.json": ACTIVITY_JSON, "F/__init__.py": "def main():\n    pass\n"}, "bindings", "['x']"),
        ({"F/function.json": ACTIVITY_JSON, "F/__init__.py": "def main(x:\n"}, "scriptFile", "SyntaxError"),
        (
            {"F/function.json": '{"disabled": [1], "bindings": []}', "F/__init__.py": ""},
            "disabled",
            "true, false",
        ),
        (
            {
                "F/function.json": fj({"name": "context", "type": "orchestrationTrigger", "direction": "in"}),
                "F/__init__.py": "def main(ctx):\n    pass\n",
            },
            "bindings",
            "['ctx']",
        ),
        (
            {
                "F/function.json": fj({"name": "ctx", "type": "orchestrationTrigger", "direction": "in"}),
                "F/__init__.py": "import azure.durable_functions as df\n"
                "def flow(ctx):\n    yield None\nmain = df.Orchestrator.create(flow)\n",
            },
            "bindings",
            "'context'",
        ),
    ],
)
def test_function_level_errors(
    make_app: Callable[[dict[str, str]], Path], files: dict[str, str], field: str | None, words: str
) -> None:

    err = load_error(make_app(files))
    assert err.function == "F"
    assert err.field == field
    assert words in str(err)
    assert "Fix:" in str(err)


def test_syntax_error_points_at_the_line(make_app: Callable[[dict[str, str]], Path]) -> None:
    err = load_error(make_app({"F/function.json": ACTIVITY_JSON, "F/__init__.py": "x = 1\ndef main(x:\n"}))
    assert "F/__init__.py:2" in err.message


def test_missing_package_fix_names_it(make_app: Callable[[dict[str, str]], Path]) -> None:
    files = {"F/function.json": ACTIVITY_JSON, "F/__init__.py": "import surely_not_installed_pkg\n"}
    err = load_error(make_app(files))
    assert "surely_not_installed_pkg" in err.fix


def test_duplicate_durable_names_are_rejected(make_app: Callable[[dict[str, str]], Path]) -> None:
    renamed = (
        '{"bindings": [{"name": "x", "type": "activityTrigger", "direction": "in", "activity": "shared"}]}'
    )
    root = make_app(
        {
            "Shared/function.json": ACTIVITY_JSON,
            "Shared/__init__.py": "def main(x): return x\n",
            "Zother/function.json": renamed,
            "Zother/__init__.py": "def main(x): return x\n",
        }
    )
    err = load_error(root)
    assert err.function == "Zother"
    assert err.field == "bindings[0].activity"
    assert "'Shared'" in err.message


def test_same_name_for_an_orchestrator_and_an_activity_is_allowed(
    make_app: Callable[[dict[str, str]], Path],
) -> None:
    root = make_app(
        {
            "Act/function.json": fj(
                {"name": "x", "type": "activityTrigger", "direction": "in", "activity": "Job"}
            ),
            "Act/__init__.py": "def main(x): return x\n",
            "Orch/function.json": '{"bindings": [{"name": "context", "type": "orchestrationTrigger", '
            '"direction": "in", "orchestration": "Job"}]}',
            "Orch/__init__.py": "def main(context): return '{}'\n",
        }
    )
    app = load_app(root, settings={})
    assert app.activity("job") is app.functions["Act"]
    assert app.orchestrator("job") is app.functions["Orch"]


def test_invalid_function_folder_name(make_app: Callable[[dict[str, str]], Path]) -> None:
    err = load_error(
        make_app({"1bad/function.json": ACTIVITY_JSON, "1bad/__init__.py": "def main(x): pass\n"})
    )
    assert err.function == "1bad"
    assert "not a valid function name" in err.message


def test_script_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(AppLoadError) as info:
        load_app(tmp_path / "nope")
    assert "not a directory" in str(info.value)


def test_an_app_with_no_functions_loads_empty(make_app: Callable[[dict[str, str]], Path]) -> None:
    app = load_app(make_app({"lib/helper.py": "X = 1\n"}), settings={})
    assert app.functions == {}
