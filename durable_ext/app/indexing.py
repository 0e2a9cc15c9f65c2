"""Indexes a v2 app: import `function_app.py` and read the functions its FunctionApp/DFApp collected."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.functions import FunctionRegister

from durable_ext.app.errors import AppLoadError
from durable_ext.app.modules import describe_user_exception, fix_for_user_exception, import_script


@dataclass(frozen=True)
class IndexedFunction:
    name: str
    bindings: list[dict[str, Any]]  # plain function.json-style dicts ("direction": "in", ...)
    func: Callable[..., Any]


def index_function_app(script_root: Path, script: Path) -> list[IndexedFunction]:
    """Functions declared with decorators in `script`, in declaration order."""
    try:
        module = import_script(script_root, script)
    except (Exception, SystemExit) as exc:
        raise AppLoadError(
            script,
            f"importing it failed: {describe_user_exception(exc, script_root)}",
            fix=fix_for_user_exception(exc, script_root),
        ) from exc

    # Like the worker: exactly one top-level FunctionRegister; blueprints are registered on it.
    apps = [(name, value) for name, value in vars(module).items() if isinstance(value, FunctionRegister)]
    if not apps:
        raise AppLoadError(
            script,
            "defines no top-level FunctionApp",
            fix="add `app = df.DFApp()` (or `func.FunctionApp()`) at module level and decorate the functions",
        )
    if len(apps) > 1:
        names = ", ".join(name for name, _ in apps)
        raise AppLoadError(
            script,
            f"defines {len(apps)} top-level function apps ({names})",
            fix="keep one app and register the others as Blueprints with app.register_functions(bp)",
        )
    app = apps[0][1]
    # get_functions() remembers the names it has seen; forget them so loading the same app again works.
    app.functions_bindings = None
    try:
        functions = app.get_functions()
    except Exception as exc:  # the SDK validates names and triggers here
        raise AppLoadError(
            script,
            f"indexing failed: {describe_user_exception(exc, script_root)}",
            fix=_indexing_fix(exc, script_root),
        ) from exc

    return [
        IndexedFunction(
            name=str(f.get_function_name()),
            bindings=[plain_binding(b) for b in f.get_bindings_dict()["bindings"]],
            func=f.get_user_function(),
        )
        for f in functions
    ]


def plain_binding(binding: dict[str, Any]) -> dict[str, Any]:
    """A decorator binding dict as function.json would spell it: enums become strings, None keys go."""
    return {k: _plain(v) for k, v in binding.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        # String-valued enums (AuthLevel, HttpMethod) keep their value; int ones (BindingDirection
        # IN=0/OUT=1/INOUT=2, DataType) are spelled by name, as in function.json.
        return value.value if isinstance(value.value, str) else value.name.lower()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    return value


def _indexing_fix(exc: Exception, script_root: Path) -> str:
    # The SDK's own ValueErrors (duplicate names, no trigger) already say what is wrong.
    if isinstance(exc, ValueError):
        return "give every function a unique name and exactly one trigger decorator"
    return fix_for_user_exception(exc, script_root)
