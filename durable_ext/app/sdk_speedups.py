"""Speed-ups for the SDK, installed in-process, each giving exactly what the SDK's own code gives.

- A faster timestamp parser. The 1.7 SDK parses every history event's Timestamp with dateutil on every
  replay, which is most of an episode's cost; the host always writes one ISO-8601 UTC shape, which this
  parses directly (and remembers, since replays repeat the same stamps), returning exactly what dateutil
  returns. Anything else still goes to dateutil.
- The SDK's orchestration executor defines a namedtuple class in its `__init__`, i.e. for every new
  orchestration (and, without extended sessions, every episode): building a class costs about as much
  as the rest of the executor's set-up. The same class, made once per name and fields, serves them all.
- `azure.functions` reads the app setting AZURE_FUNCTIONS_DURABLE_STRICT_TYPING from the environment on
  every `df_dumps` and `df_loads`, several times per episode (~3% of a raised event's CPU). App settings
  are fixed for a worker's life on Azure (changing one restarts it), so the host reads it once, as it
  starts, through the library's own test, and answers with that.
"""

from __future__ import annotations

import collections
import functools
import importlib
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from dateutil.parser import parse as dateutil_parse

_ISO_UTC = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,7}))?Z\Z")
# The tzinfo dateutil itself gives a 'Z' stamp (tzutc, or tzlocal on a machine whose zone is UTC), so
# results compare, print and hash exactly as before.
_UTC = dateutil_parse("2000-01-01T00:00:00Z").tzinfo
_CACHE: dict[str, datetime] = {}
_CACHE_LIMIT = 200_000


def parse_timestamp_like_dateutil(text: Any, *args: Any, **kwargs: Any) -> datetime:
    if args or kwargs or not isinstance(text, str):
        return dateutil_parse(text, *args, **kwargs)
    cached = _CACHE.get(text)
    if cached is not None:
        return cached
    match = _ISO_UTC.match(text)
    if match is None:
        return dateutil_parse(text)
    year, month, day, hour, minute, second, fraction = match.groups()
    # dateutil keeps the first six fraction digits (7-digit .NET stamps are truncated, not rounded).
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=_UTC)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[text] = value
    return value


def namedtuple_once(typename: str, field_names: str | Iterable[str]) -> type:
    """`collections.namedtuple(typename, field_names)`, built once for each name and fields."""
    fields = field_names if isinstance(field_names, str) else tuple(field_names)
    return _namedtuple_cached(typename, fields)


@functools.lru_cache(maxsize=64)
def _namedtuple_cached(typename: str, fields: str | tuple[str, ...]) -> type:
    return collections.namedtuple(typename, fields)


class _StrictTypingAtStart:
    """`_is_strict_mode` answered from the value it had when the host started."""

    def __init__(self, read: Callable[[], bool]) -> None:
        self.read = read  # the library's own test of the environment
        self.value = read()

    def __call__(self) -> bool:
        return self.value


def install_sdk_speedups() -> None:
    """Point the SDK's history and status models at the fast parser, its executor at the cached
    namedtuple, and the strict-typing test at the setting's value now (idempotent; a host calls it once
    its settings are in the environment)."""
    codec = importlib.import_module("azure.functions._durable_functions")
    strict = getattr(codec, "_is_strict_mode", None)
    if isinstance(strict, _StrictTypingAtStart):
        strict.value = strict.read()
    elif callable(strict):
        setattr(codec, "_is_strict_mode", _StrictTypingAtStart(strict))  # noqa: B010
    executor = importlib.import_module("azure.durable_functions.models.TaskOrchestrationExecutor")
    if getattr(executor, "namedtuple") is collections.namedtuple:  # noqa: B009 - a module global
        setattr(executor, "namedtuple", namedtuple_once)  # noqa: B010
    modules = [
        importlib.import_module("azure.durable_functions.models.history.HistoryEvent"),
        importlib.import_module("azure.durable_functions.models.DurableOrchestrationStatus"),
    ]
    for module in modules:
        current: Callable[..., Any] = getattr(module, "dt_parse")  # noqa: B009 - a module global
        if current is not parse_timestamp_like_dateutil:
            setattr(module, "dt_parse", parse_timestamp_like_dateutil)  # noqa: B010
