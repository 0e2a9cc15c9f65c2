"""Replacing an activity's code for one test, for v1 (function.json) and v2 (decorator) apps alike.

The loaded app maps names to frozen FunctionSpecs; we swap in a copy whose callable keeps the
original's signature and annotations (through `__wrapped__`), so the invoker binds and converts the
input exactly as before and hands the stub the same decoded value the activity would have received.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from ..app.loader import LoadedApp
from ..app.spec import FunctionSpec


def stub_callable(spec: FunctionSpec, stub: Callable[[Any], Any]) -> Callable[..., Any]:
    """A function shaped like `spec.func` that calls `stub(activity input)` instead."""
    original = spec.func
    trigger = spec.trigger.name
    if inspect.iscoroutinefunction(original) or inspect.iscoroutinefunction(stub):

        @functools.wraps(original)
        async def run_async(**kwargs: Any) -> Any:
            value = stub(kwargs[trigger])
            return await value if inspect.isawaitable(value) else value

        return run_async

    @functools.wraps(original)
    def run(**kwargs: Any) -> Any:
        return stub(kwargs[trigger])

    return run


@contextmanager
def stubbed_activity(app: LoadedApp, name: str, stub: Callable[[Any], Any]) -> Iterator[FunctionSpec]:
    spec = app.activity(name)
    if spec is None:
        known = sorted(s.durable_name for s in app.functions_by_trigger_type("activityTrigger"))
        raise LookupError(
            f"The app has no activity '{name}' to stub (activities: {', '.join(known) or 'none'})."
        )
    stubbed = replace(spec, func=stub_callable(spec, stub))
    app.functions[spec.name] = stubbed
    try:
        yield stubbed
    finally:
        if app.functions.get(spec.name) is stubbed:  # a nested stub restores its own predecessor
            app.functions[spec.name] = spec
