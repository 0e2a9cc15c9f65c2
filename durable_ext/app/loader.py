"""Loads a Functions app folder (v1 function.json folders, or a v2 `function_app.py`) into FunctionSpecs."""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_ext.app.disabled import disabled_reason
from durable_ext.app.errors import AppLoadError
from durable_ext.app.function_json import FUNCTION_JSON, FunctionJson, read_function_json
from durable_ext.app.indexing import index_function_app
from durable_ext.app.modules import (
    describe_user_exception,
    fix_for_user_exception,
    import_script,
    put_root_on_path,
)
from durable_ext.app.signature import SignatureError, plan_parameters
from durable_ext.app.spec import (
    ACTIVITY_TRIGGER,
    DURABLE_NAME_PROPERTY,
    ENTITY_TRIGGER,
    ORCHESTRATION_TRIGGER,
    FunctionSpec,
)
from durable_ext.bindings import BindingType, get_binding_type, validate_function_bindings

DEFAULT_V2_SCRIPT = "function_app.py"
# The host's rule for function names (case-insensitive).
_FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,127}$", re.IGNORECASE)
_HTTP_TRIGGER = "httpTrigger"


@dataclass
class LoadedApp:
    """The functions the host can run, by function name, and what was skipped and why."""

    functions: dict[str, FunctionSpec]
    warnings: list[str] = field(default_factory=list)
    script_root: Path | None = None

    def orchestrator(self, name: str) -> FunctionSpec | None:
        return self._durable(ORCHESTRATION_TRIGGER, name)

    def activity(self, name: str) -> FunctionSpec | None:
        return self._durable(ACTIVITY_TRIGGER, name)

    def entity(self, name: str) -> FunctionSpec | None:
        return self._durable(ENTITY_TRIGGER, name)

    def http_functions(self) -> list[FunctionSpec]:
        return self.functions_by_trigger_type(_HTTP_TRIGGER)

    def functions_by_trigger_type(self, type_name: str) -> list[FunctionSpec]:
        wanted = type_name.lower()
        return [f for f in self.functions.values() if f.trigger.type.lower() == wanted]

    def known_names(self, trigger_type: str) -> str:
        """The durable names of one trigger type, for "does not exist" messages: "a, b", or "none"."""
        names = sorted(f.durable_name for f in self.functions_by_trigger_type(trigger_type))
        return ", ".join(names) or "none"

    def _durable(self, trigger_type: str, name: str) -> FunctionSpec | None:
        # Durable names are case-insensitive, as in the .NET extension.
        wanted = name.lower()
        for spec in self.functions.values():
            if spec.trigger.type == trigger_type and spec.durable_name.lower() == wanted:
                return spec
        return None


def load_app(
    script_root: Path,
    *,
    functions_filter: Sequence[str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> LoadedApp:
    """Find, validate and import every function under `script_root`.

    `functions_filter` is host.json's "functions" list; `settings` are the app settings (default: os.environ)
    used for `AzureWebJobs.<name>.Disabled` and setting-named `disabled` values. Raises AppLoadError.
    """
    root = Path(script_root).resolve()
    if not root.is_dir():
        raise AppLoadError(root, "is not a directory", fix="pass the app folder (the one holding host.json)")
    settings = os.environ if settings is None else settings
    put_root_on_path(root)

    builder = _Builder(root, settings, _NameFilter(functions_filter))
    v2_script = root / (settings.get("PYTHON_SCRIPT_FILE_NAME") or DEFAULT_V2_SCRIPT)
    if v2_script.is_file():
        builder.load_v2(v2_script)
    else:
        builder.load_v1()
    builder.warnings.extend(builder.filter.unmatched())
    _check_unique_durable_names(builder.functions)
    return LoadedApp(functions=builder.functions, warnings=builder.warnings, script_root=root)


class _NameFilter:
    """host.json "functions": only the listed names load (case-insensitive); None means all."""

    def __init__(self, names: Sequence[str] | None) -> None:
        self._names = None if names is None else {n.lower(): n for n in names}
        self._seen: set[str] = set()

    def allows(self, name: str) -> bool:
        if self._names is None:
            return True
        self._seen.add(name.lower())
        return name.lower() in self._names

    def unmatched(self) -> list[str]:
        if self._names is None:
            return []
        return [
            f"host.json \"functions\" lists '{original}', but the app has no such function"
            for key, original in self._names.items()
            if key not in self._seen
        ]


@dataclass
class _Builder:
    root: Path
    settings: Mapping[str, str]
    filter: _NameFilter
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def load_v1(self) -> None:
        for folder in sorted(p for p in self.root.iterdir() if (p / FUNCTION_JSON).is_file()):
            if not self.filter.allows(folder.name):
                continue
            self._check_name(folder.name, folder / FUNCTION_JSON)
            fj = read_function_json(folder)
            if self._is_disabled(fj.name, fj.source, fj.disabled):
                continue
            self._add(fj.name, fj.source, fj.bindings, functools.partial(self._import_entry_point, fj))

    def load_v2(self, script: Path) -> None:
        ignored = sorted(p.name for p in self.root.iterdir() if (p / FUNCTION_JSON).is_file())
        if ignored:
            self.warnings.append(
                f"{script.name} defines the app, so these function.json folders are ignored: "
                + ", ".join(ignored)
            )
        for indexed in index_function_app(self.root, script):
            if not self.filter.allows(indexed.name):
                continue
            self._check_name(indexed.name, script)
            if self._is_disabled(indexed.name, script, None):
                continue
            self._add(indexed.name, script, list(indexed.bindings), functools.partial(_same, indexed.func))

    def _add(
        self, name: str, source: Path, raw_bindings: list[Any], load: Callable[[], Callable[..., Any]]
    ) -> None:
        taken = next((n for n in self.functions if n.lower() == name.lower()), None)
        if taken is not None:
            raise AppLoadError(
                source,
                f"the name clashes with function '{taken}'",
                fix="give each function a unique name",
                function=name,
            )
        bindings, unsupported = validate_function_bindings(name, source, raw_bindings)
        if unsupported:
            self.warnings.extend(unsupported)
            return
        # Every type is known here (unsupported ones were skipped) and there is exactly one trigger.
        trigger = next(b for b in bindings if _binding_type(b.type).is_trigger)
        spec = FunctionSpec(name=name, source=source, trigger=trigger, bindings=tuple(bindings), func=load())
        try:
            plan_parameters(spec)
        except SignatureError as exc:
            raise AppLoadError(source, exc.message, fix=exc.fix, function=name, field="bindings") from None
        self.functions[name] = spec

    def _import_entry_point(self, fj: FunctionJson) -> Callable[..., Any]:
        rel = _relative(fj.script, self.root)
        try:
            module = import_script(self.root, fj.script)
        except ValueError as exc:  # not importable from the script root at all
            raise AppLoadError(
                fj.source,
                str(exc),
                fix="keep the script inside the app folder",
                function=fj.name,
                field="scriptFile",
            ) from None
        except (Exception, SystemExit) as exc:
            raise AppLoadError(
                fj.source,
                f"importing {rel} failed: {describe_user_exception(exc, self.root)}",
                fix=fix_for_user_exception(exc, self.root),
                function=fj.name,
                field="scriptFile",
            ) from exc
        func = getattr(module, fj.entry_point, None)
        if func is None or not callable(func):
            found = _callables(module)
            listing = f"callables there: {', '.join(found)}" if found else "it defines no public callables"
            what = "is not defined" if func is None else "is not callable"
            raise AppLoadError(
                fj.source,
                f"'{fj.entry_point}' {what} in {rel} ({listing})",
                fix=f'name the function {fj.entry_point}, or set "entryPoint" to the function to run',
                function=fj.name,
                field="entryPoint",
            )
        return func

    def _check_name(self, name: str, source: Path) -> None:
        if not _FUNCTION_NAME.match(name):
            raise AppLoadError(
                source,
                f"'{name}' is not a valid function name",
                fix="start with a letter and use only letters, digits, '_' and '-' (at most 128 characters)",
                function=name,
            )

    def _is_disabled(self, name: str, source: Path, disabled: Any) -> bool:
        try:
            reason = disabled_reason(name, disabled, self.settings)
        except ValueError as exc:
            raise AppLoadError(
                source, str(exc), fix='write "disabled": true or false', function=name, field="disabled"
            ) from None
        if reason:
            self.warnings.append(f"function '{name}' is disabled ({reason}); skipped")
        return reason is not None


def _check_unique_durable_names(functions: Mapping[str, FunctionSpec]) -> None:
    seen: dict[tuple[str, str], FunctionSpec] = {}
    for spec in functions.values():
        if spec.trigger.type not in DURABLE_NAME_PROPERTY:
            continue
        key = (spec.trigger.type, spec.durable_name.lower())
        first = seen.setdefault(key, spec)
        if first is spec:
            continue
        index = spec.bindings.index(spec.trigger)
        prop = DURABLE_NAME_PROPERTY[spec.trigger.type]
        field_name = f"bindings[{index}].{prop}" if spec.trigger.get(prop) else f"bindings[{index}]"
        raise AppLoadError(
            spec.source,
            f"{spec.trigger.type} name '{spec.durable_name}' is already used by function '{first.name}' "
            f"({first.source}); names are compared without case",
            fix=f'rename one of them (set "{prop}" or rename the function)',
            function=spec.name,
            field=field_name,
        )


def _binding_type(type_name: str) -> BindingType:
    binding_type = get_binding_type(type_name)
    assert binding_type is not None
    return binding_type


def _same(func: Callable[..., Any]) -> Callable[..., Any]:
    return func


def _callables(module: Any) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and callable(value)
        and not inspect.isclass(value)
        and not inspect.ismodule(value)
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
