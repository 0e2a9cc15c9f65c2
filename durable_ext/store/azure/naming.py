"""Names and keys of a task hub's Azure resources: hub-name rules, table keys, partition hashing."""

from __future__ import annotations

import re
from dataclasses import dataclass

# DF validates explicit hub names against both the table rule and the container/queue rule (lowercased),
# and caps the length at 50 (its error message says 45).
_TABLE_RULE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_QUEUE_RULE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_HUB_NAME = 50
MIN_HUB_NAME = 3

MAX_PARTITIONS = 16


class HubNameError(ValueError):
    """The task hub name cannot name Azure tables, queues and containers."""


def validate_hub_name(name: str) -> str:
    problem = None
    if not MIN_HUB_NAME <= len(name) <= MAX_HUB_NAME:
        problem = f"it has {len(name)} characters (allowed: {MIN_HUB_NAME} to {MAX_HUB_NAME})"
    elif not _TABLE_RULE.match(name):
        problem = "it must start with a letter and contain only letters and digits"
    elif not _QUEUE_RULE.match(name.lower()):  # pragma: no cover - implied by the table rule
        problem = "its lowercase form is not a valid queue name"
    if problem:
        raise HubNameError(
            f"Task hub name '{name}' cannot be used with Azure Storage: {problem}. Set "
            "extensions.durableTask.hubName in host.json to 3-50 letters and digits starting with a letter."
        )
    return name


@dataclass(frozen=True)
class HubNames:
    """Every resource name of one hub, as DurableTask.AzureStorage spells them."""

    hub: str

    @property
    def lower(self) -> str:
        return self.hub.lower()

    @property
    def history_table(self) -> str:
        return f"{self.hub}History"

    @property
    def instances_table(self) -> str:
        return f"{self.hub}Instances"

    @property
    def partitions_table(self) -> str:
        return f"{self.hub}Partitions"

    @property
    def work_item_queue(self) -> str:
        return f"{self.lower}-workitems"

    @property
    def large_message_container(self) -> str:
        return f"{self.lower}-largemessages"

    def control_queue(self, index: int) -> str:
        return f"{self.lower}-control-{index:02d}"

    def control_queues(self, partition_count: int) -> list[str]:
        return [self.control_queue(i) for i in range(partition_count)]


# -- table keys ---------------------------------------------------------------------------------------
_ESCAPES = {"^": "^^", "/": "^0", "\\": "^1", "#": "^2", "?": "^3"}
_UNESCAPES = {"^": "^", "0": "/", "1": "\\", "2": "#", "3": "?"}
_CONTROL_SHIFT = 0xC0  # control characters become '^' + (char + U+00C0)


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code <= 0x1F or 0x7F <= code <= 0x9F


def escape_key(instance_id: str) -> str:
    """The PartitionKey of an instance: characters Table storage forbids in keys, escaped with '^'."""
    out = []
    for ch in instance_id:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _is_control(ch):
            out.append("^" + chr(ord(ch) + _CONTROL_SHIFT))
        else:
            out.append(ch)
    return "".join(out)


def unescape_key(key: str) -> str:
    out = []
    chars = iter(key)
    for ch in chars:
        if ch != "^":
            out.append(ch)
            continue
        nxt = next(chars, "")
        if nxt in _UNESCAPES:
            out.append(_UNESCAPES[nxt])
        elif nxt:
            out.append(chr(ord(nxt) - _CONTROL_SHIFT))
    return "".join(out)


def row_key(sequence: int) -> str:
    """History RowKey: the event's position in the execution, as .NET `long.ToString("X16")`."""
    return f"{sequence:016X}"


SENTINEL_ROW_KEY = "sentinel"


# -- partitioning ---------------------------------------------------------------------------------------
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1a_32(data: bytes) -> int:
    value = _FNV_OFFSET
    for byte in data:
        value ^= byte
        value = (value * _FNV_PRIME) & 0xFFFFFFFF
    return value


def partition_index(instance_id: str, partition_count: int) -> int:
    """The control queue of an instance: FNV-1a of its raw UTF-8 id, modulo the partition count."""
    return fnv1a_32(instance_id.encode("utf-8")) % partition_count
