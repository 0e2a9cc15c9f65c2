"""Imports user code under a package unique to its script root, the way the Python worker imports it.

The worker imports `<root>/Foo/__init__.py` as `__app__.Foo`; we use `_durable_app_<hash>.Foo` instead so two
apps loaded into one process never share module objects, while `from . import x` and `from ..shared import y`
resolve exactly as they do under the worker. The legacy `__app__` namespace is kept working too.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

LEGACY_NAMESPACE = "__app__"
# Folders inside a script root that hold installed packages, not user code.
_DEPENDENCY_DIRS = (".python_packages", ".venv", "site-packages")


def app_package(script_root: Path) -> str:
    """The synthetic package name for `script_root`, created (and registered in sys.modules) on first use."""
    root = script_root.resolve()
    name = "_durable_app_" + hashlib.sha256(str(root).encode()).hexdigest()[:12]
    if name not in sys.modules:
        sys.modules[name] = _namespace(name, [str(root)])
    legacy = sys.modules.get(LEGACY_NAMESPACE)
    if legacy is None:
        legacy = sys.modules[LEGACY_NAMESPACE] = _namespace(LEGACY_NAMESPACE, [])
    if str(root) not in legacy.__path__:
        legacy.__path__.append(str(root))
    return name


def module_name_for(script_root: Path, script: Path) -> str:
    """The dotted name `script` is imported under; ValueError if it cannot be imported from the root."""
    root = script_root.resolve()
    rel = script.resolve().relative_to(root)
    if rel.suffix != ".py":
        raise ValueError(f"'{rel}' is not a Python file")
    parts = list(rel.parts[:-1])
    if rel.stem != "__init__":
        parts.append(rel.stem)
    if not parts:
        raise ValueError("the script root's own __init__.py cannot be a function script")
    bad = [p for p in parts if "." in p]
    if bad:
        raise ValueError(f"'{bad[0]}' contains a '.', which Python cannot import")
    return ".".join([app_package(root), *parts])


def import_script(script_root: Path, script: Path) -> ModuleType:
    """Import a user script (exceptions from user code propagate; see `describe_user_exception`)."""
    return importlib.import_module(module_name_for(script_root, script))


def put_root_on_path(script_root: Path) -> None:
    """Make the script root importable first, as the worker does, so `import shared_code` works."""
    root = str(script_root.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    os.environ.setdefault("AzureWebJobsScriptRoot", root)


def describe_user_exception(exc: BaseException, script_root: Path) -> str:
    """One line: exception type, message and the user file:line it came from."""
    message = " ".join(str(exc).split()) or "(no message)"
    where = user_location(exc, script_root)
    suffix = f" (at {where})" if where else ""
    return f"{type(exc).__name__}: {message}{suffix}"


def fix_for_user_exception(exc: BaseException, script_root: Path) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return (
            f"install the package that provides '{exc.name}' (list it in requirements.txt) or fix the import"
        )
    where = user_location(exc, script_root)
    return f"fix the code at {where}" if where else "fix the code so the module imports cleanly"


def user_location(exc: BaseException, script_root: Path) -> str | None:
    """`file:line` of the deepest frame in user code, relative to the script root when possible."""
    root = script_root.resolve()
    if isinstance(exc, SyntaxError) and exc.filename:
        return _relative(Path(exc.filename), root) + f":{exc.lineno or 0}"
    found: str | None = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if _is_user_file(path, root):
            found = f"{_relative(path, root)}:{frame.lineno}"
    return found


def _is_user_file(path: Path, root: Path) -> bool:
    try:
        rel = path.resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return not any(part in _DEPENDENCY_DIRS for part in rel.parts)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except (ValueError, OSError):
        return str(path)


def _namespace(name: str, locations: list[str]) -> ModuleType:
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = locations
    return importlib.util.module_from_spec(spec)
