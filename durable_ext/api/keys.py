"""Function keys as Azure Functions uses them: `authLevel` anonymous / function / admin, a master key,
host and per-function keys, and the durable extension's system key; sent as `code=` or `x-functions-key`.

Keys come from a JSON keys file (`.durable/keys.json` under the script root, or `--keys-file`) shaped
`{"masterKey": "...", "functionKeys": {"default": "..."}, "perFunctionKeys": {"Fn": {"name": "..."}},
"systemKeys": {"durabletask_extension": "..."}}`, and from the settings `DURABLE_EXT_MASTER_KEY` and
`DURABLE_EXT_SYSTEM_KEY`. With no key at all the host is open, which is allowed only on loopback.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from aiohttp import web

SYSTEM_KEY_NAME = "durabletask_extension"
MASTER_KEY_SETTING = "DURABLE_EXT_MASTER_KEY"
SYSTEM_KEY_SETTING = "DURABLE_EXT_SYSTEM_KEY"


class KeysError(Exception):
    pass


class AuthLevel(str, Enum):
    ANONYMOUS = "anonymous"
    FUNCTION = "function"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: Any) -> AuthLevel:
        """function.json spells it in any case; v2 apps may hand over the SDK's enum."""
        text = str(getattr(value, "value", value) or "function").lower()
        return cls(text) if text in {m.value for m in cls} else cls.FUNCTION


@dataclass(frozen=True)
class HostKeys:
    master_key: str | None = None
    function_keys: Mapping[str, str] = field(default_factory=dict)  # host-wide keys valid for every function
    per_function_keys: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    system_key: str | None = None

    @property
    def enabled(self) -> bool:
        return self.master_key is not None

    def system_query(self) -> str:
        """What the durable links carry so they keep working: `code=<system key>`, or nothing."""
        key = self.system_key or self.master_key
        return f"code={key}" if self.enabled and key else ""

    def allows_function(self, function_name: str, level: AuthLevel, presented: str | None) -> bool:
        if not self.enabled or level == AuthLevel.ANONYMOUS:
            return True
        if presented is None:
            return False
        if _matches(presented, [self.master_key]):
            return True
        if level == AuthLevel.ADMIN:
            return False
        per_function = _lookup(self.per_function_keys, function_name)
        return _matches(presented, [*self.function_keys.values(), *per_function.values()])

    def allows_webhook(self, presented: str | None) -> bool:
        if not self.enabled:
            return True
        return presented is not None and _matches(presented, [self.system_key, self.master_key])


def presented_key(request: web.Request) -> str | None:
    for name, value in request.query.items():
        if name.lower() == "code":
            return value
    return request.headers.get("x-functions-key")


def _matches(presented: str, keys: list[str | None]) -> bool:
    return any(k is not None and hmac.compare_digest(presented.encode(), k.encode()) for k in keys)


def _lookup(table: Mapping[str, Mapping[str, str]], name: str) -> Mapping[str, str]:
    for key, value in table.items():
        if key.lower() == name.lower():
            return value
    return {}


def load_keys(path: Path | None, settings: Mapping[str, str]) -> HostKeys:
    data: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise KeysError(f"{path}: not valid JSON ({exc}). Fix the file or delete it.") from None
        if not isinstance(data, dict):
            raise KeysError(f"{path}: expected a JSON object with 'masterKey'.")
    master = settings.get(MASTER_KEY_SETTING) or data.get("masterKey")
    system = settings.get(SYSTEM_KEY_SETTING) or (data.get("systemKeys") or {}).get(SYSTEM_KEY_NAME)
    function_keys = data.get("functionKeys") or {}
    per_function = data.get("perFunctionKeys") or {}
    for name, value in (("functionKeys", function_keys), ("perFunctionKeys", per_function)):
        if not isinstance(value, dict):
            raise KeysError(f"{path}: '{name}' must be an object of name: key.")
    if (function_keys or per_function or system) and not master:
        raise KeysError(
            f"{path or MASTER_KEY_SETTING}: keys are configured but no master key; add 'masterKey'."
        )
    return HostKeys(master, dict(function_keys), dict(per_function), system)


def generate_keys_file(path: Path) -> HostKeys:
    """A new master, default function and system key, written with owner-only permissions."""
    keys = {
        "masterKey": secrets.token_urlsafe(32),
        "functionKeys": {"default": secrets.token_urlsafe(32)},
        "systemKeys": {SYSTEM_KEY_NAME: secrets.token_urlsafe(32)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return load_keys(path, {})
