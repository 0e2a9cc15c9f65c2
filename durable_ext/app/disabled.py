"""Is a function switched off: function.json `disabled`, or the `AzureWebJobs.<name>.Disabled` setting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TRUE = ("true", "1")
_FALSE = ("false", "0", "")


def disabled_reason(function: str, disabled: Any, settings: Mapping[str, str]) -> str | None:
    """Why the function is disabled, or None. Raises ValueError for a `disabled` value of the wrong type."""
    for key in (f"AzureWebJobs.{function}.Disabled", f"AzureWebJobs__{function}__Disabled"):
        value = _setting(settings, key)
        if value is not None and value.strip().lower() in _TRUE:
            return f"app setting {key}={value}"
    if disabled is None or disabled is False:
        return None
    if disabled is True:
        return 'function.json "disabled": true'
    if isinstance(disabled, int) and not isinstance(disabled, bool):
        return 'function.json "disabled": 1' if disabled else None
    if not isinstance(disabled, str):
        raise ValueError(f"must be true, false or an app setting name, got {type(disabled).__name__}")
    text = disabled.strip()
    if text.lower() in _TRUE:
        return f'function.json "disabled": "{text}"'
    if text.lower() in _FALSE:
        return None
    # Otherwise it names an app setting ("%Name%" or "Name") whose value decides.
    name = text.strip("%")
    value = _setting(settings, name)
    if value is not None and value.strip().lower() in _TRUE:
        return f'function.json "disabled": "{text}" (app setting {name}={value})'
    return None


def _setting(settings: Mapping[str, str], key: str) -> str | None:
    if key in settings:
        return settings[key]
    wanted = key.lower()
    for k, v in settings.items():
        if k.lower() == wanted:
            return v
    return None
