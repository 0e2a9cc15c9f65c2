"""Reads one v1 function folder: `<root>/<Name>/function.json` and where its code lives."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_ext.app.errors import AppLoadError

FUNCTION_JSON = "function.json"
DEFAULT_SCRIPT = "__init__.py"
DEFAULT_ENTRY_POINT = "main"


@dataclass(frozen=True)
class FunctionJson:
    name: str
    source: Path  # the function.json file
    script: Path
    entry_point: str
    bindings: list[Any]
    disabled: Any


def read_function_json(folder: Path) -> FunctionJson:
    """Parse and shape-check `folder/function.json`; AppLoadError names the file, function and field."""
    name = folder.name
    source = folder / FUNCTION_JSON

    def error(field: str | None, message: str, fix: str) -> AppLoadError:
        return AppLoadError(source, message, fix=fix, function=name, field=field)

    try:
        data = json.loads(source.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise error(
            f"line {exc.lineno} column {exc.colno}",
            f"invalid JSON: {exc.msg}",
            "correct the JSON syntax there",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(None, f"cannot read the file: {exc}", "make it a readable UTF-8 file") from None
    if not isinstance(data, dict):
        raise error(None, f"must hold a JSON object, got {type(data).__name__}", 'write {"bindings": [...]}')

    bindings = _get(data, "bindings")
    if bindings is None:
        raise error("bindings", "is missing", 'add "bindings": [...] with one trigger')
    if not isinstance(bindings, list):
        raise error(
            "bindings", f"must be a list, got {type(bindings).__name__}", 'write "bindings": [{...}, ...]'
        )

    script_file = _get(data, "scriptFile")
    if script_file is None:
        script_file = DEFAULT_SCRIPT
    if not isinstance(script_file, str) or not script_file.strip():
        raise error("scriptFile", "must be a file name", f'set "scriptFile": "{DEFAULT_SCRIPT}" or remove it')
    script = (folder / script_file).resolve()
    if not script.is_file():
        raise error(
            "scriptFile",
            f"'{script_file}' does not exist (looked for {script})",
            f'create it, or point "scriptFile" at the Python file next to {FUNCTION_JSON}',
        )

    entry_point = _get(data, "entryPoint")
    if entry_point is None:
        entry_point = DEFAULT_ENTRY_POINT
    if not isinstance(entry_point, str) or not entry_point.isidentifier():
        raise error(
            "entryPoint",
            f"{entry_point!r} is not a Python name",
            f'set "entryPoint": "{DEFAULT_ENTRY_POINT}"',
        )

    return FunctionJson(
        name=name,
        source=source,
        script=script,
        entry_point=entry_point,
        bindings=bindings,
        disabled=_get(data, "disabled"),
    )


def _get(data: dict[str, Any], key: str) -> Any:
    # The host reads function.json keys without regard to case.
    if key in data:
        return data[key]
    wanted = key.lower()
    return next((v for k, v in data.items() if k.lower() == wanted), None)
