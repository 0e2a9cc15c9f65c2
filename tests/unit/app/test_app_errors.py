from __future__ import annotations

import pickle
from pathlib import Path

from durable_ext.app.errors import AppLoadError


def test_full_line() -> None:
    err = AppLoadError(
        Path("app/Fn/function.json"), "is missing.", fix="add it", function="Fn", field="bindings[1].name"
    )
    assert str(err) == "app/Fn/function.json: function 'Fn': bindings[1].name: is missing. Fix: add it."
    assert (err.message, err.fix) == ("is missing", "add it")


def test_line_without_function_or_field() -> None:
    err = AppLoadError(Path("app/function_app.py"), "defines no app", fix="add one")
    assert str(err) == "app/function_app.py: defines no app. Fix: add one."
    assert err.function is None and err.field is None


def test_survives_pickling() -> None:
    err = AppLoadError(Path("a/function.json"), "bad", fix="fix it", function="F", field="bindings")
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err)
    assert (copy.source, copy.function, copy.field) == (err.source, "F", "bindings")
