"""Load host.json and local.settings.json into typed, validated, immutable settings."""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

DEFAULT_HUB_NAME = "TestHubName"
# The only schema the 2.x+ Functions host accepts; 1.x files have no version or other layouts.
SUPPORTED_HOST_VERSION = "2.0"

_EMBEDDED_TYPES = ("embedded", "sqlite")
# Provider types this host can run, keyed by lower-case spelling (matched as Newtonsoft would).
_PROVIDER_TYPES = {"azurestorage": "AzureStorage", "embedded": "embedded", "sqlite": "sqlite"}


class ConfigError(Exception):
    """A configuration problem located by file and dotted key, with a suggested fix."""

    def __init__(self, file: str, key: str | None, message: str, fix: str | None = None) -> None:
        super().__init__(file, key, message, fix)  # keeps the error picklable
        self.file = file
        self.key = key
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}: " if self.key else f"{self.file}: "
        text = _sentence(where + self.message)
        return f"{text} Fix: {_sentence(self.fix)}" if self.fix else text


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."


def _show(value: Any) -> str:
    """A value as the user wrote it in JSON, shortened for one-line messages."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _frozen(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


def _default_concurrency() -> int:
    # Dedicated/Premium default; there is no Consumption plan to detect when self-hosting.
    return 10 * (os.cpu_count() or 1)


# --------------------------------------------------------------------------------------------------
# Settings types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StorageProviderSettings:
    type: str = "AzureStorage"
    connection_name: str = "AzureWebJobsStorage"
    partition_count: int = 4
    control_queue_batch_size: int = 32
    control_queue_buffer_threshold: int = 256
    control_queue_visibility_timeout: float = 300.0
    work_item_queue_visibility_timeout: float = 300.0
    max_queue_polling_interval: float = 30.0
    use_table_partition_management: bool = True
    use_legacy_partition_management: bool = False
    fetch_large_messages_automatically: bool = True
    tracking_store_connection_name: str | None = None
    tracking_store_name_prefix: str = "DurableTask"
    allow_replaying_terminal_instances: bool = False
    queue_client_message_encoding: str = "UTF8"

    @property
    def is_embedded(self) -> bool:
        return self.type.lower() in _EMBEDDED_TYPES


@dataclass(frozen=True)
class HttpSettings:
    default_async_request_sleep_time_milliseconds: int = 30000
    use_forwarded_host: bool = False


@dataclass(frozen=True)
class DurableTaskSettings:
    hub_name: str = DEFAULT_HUB_NAME
    hub_name_explicit: bool = False
    storage_provider: StorageProviderSettings = field(default_factory=StorageProviderSettings)
    max_concurrent_activity_functions: int = field(default_factory=_default_concurrency)
    max_concurrent_orchestrator_functions: int = field(default_factory=_default_concurrency)
    max_concurrent_entity_functions: int = field(default_factory=_default_concurrency)
    max_entity_operation_batch_size: int = 5000
    extended_sessions_enabled: bool = False
    extended_session_idle_timeout_in_seconds: int = 30
    max_orchestration_actions: int = 100000
    overridable_existing_instance_states: str = "NonRunningStates"
    entity_message_reorder_window_in_minutes: int = 30
    store_inputs_in_orchestration_history: bool = False
    local_rpc_endpoint_enabled: bool | None = None
    default_version: str | None = None
    version_match_strategy: str = "CurrentOrOlder"
    version_failure_strategy: str = "Reject"
    use_app_lease: bool = True
    use_graceful_shutdown: bool = False
    throw_status_exceptions_on_raise_event: bool | None = None
    rollback_entity_operations_on_exceptions: bool = True
    http_settings: HttpSettings = field(default_factory=HttpSettings)
    tracing: Mapping[str, Any] = field(default_factory=_empty)
    notifications: Mapping[str, Any] = field(default_factory=_empty)
    app_lease_options: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True)
class HttpExtensionSettings:
    route_prefix: str = "api"


@dataclass(frozen=True)
class QueuesSettings:
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    batch_size: int = 16
    max_dequeue_count: int = 5
    new_batch_threshold: int | None = None
    message_encoding: str = "base64"


@dataclass(frozen=True)
class HostSettings:
    version: str = SUPPORTED_HOST_VERSION
    durable_task: DurableTaskSettings = field(default_factory=DurableTaskSettings)
    http: HttpExtensionSettings = field(default_factory=HttpExtensionSettings)
    queues: QueuesSettings = field(default_factory=QueuesSettings)
    function_timeout: float | None = None  # None: the host default (unbounded when self-hosting)
    functions: tuple[str, ...] | None = None
    raw: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True)
class LocalSettings:
    is_encrypted: bool = False
    values: Mapping[str, str] = field(default_factory=_empty)
    connection_strings: Mapping[str, str] = field(default_factory=_empty)
    local_http_port: int | None = None
    cors: str | None = None
    cors_credentials: bool = False


# --------------------------------------------------------------------------------------------------
# TimeSpan parsing (.NET "[-][d.]hh:mm[:ss[.fffffff]]")
# --------------------------------------------------------------------------------------------------

_TIMESPAN_RE = re.compile(
    r"\s*(?P<sign>-)?(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{1,2})"
    r"(?::(?P<seconds>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?)?\s*"
)


def parse_timespan(text: str, *, file: str, key: str) -> float:
    """Seconds in a .NET TimeSpan string such as "00:05:00" or "1.02:00:00.5"."""
    match = _TIMESPAN_RE.fullmatch(text)
    if match is None:
        # A bare number parses in .NET as *days*, a classic surprise, so it is refused here.
        hint = " (a bare number would mean days in .NET)" if text.strip().lstrip("-").isdigit() else ""
        raise ConfigError(
            file,
            key,
            f'expected a duration "hh:mm:ss" or "d.hh:mm:ss", got {_show(text)}{hint}',
            'write it like "00:05:00"',
        )
    hours, minutes = int(match["hours"]), int(match["minutes"])
    seconds = int(match["seconds"] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ConfigError(
            file,
            key,
            f"duration {_show(text)} is out of range: hours must be 0-23 and minutes and seconds 0-59",
            'carry larger values into days, e.g. "1.00:00:00" for 24 hours',
        )
    total = int(match["days"] or 0) * 86400 + hours * 3600 + minutes * 60 + seconds
    total_f = total + float(f"0.{match['fraction']}") if match["fraction"] else float(total)
    return -total_f if match["sign"] else total_f


def _format_timespan(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}.{text}" if days else text


# --------------------------------------------------------------------------------------------------
# Reading one JSON object with known keys
# --------------------------------------------------------------------------------------------------


class _Section:
    """One JSON object of a settings file.

    Keys are matched case-insensitively, as the .NET configuration binder and Newtonsoft's
    PopulateObject do. Unknown keys are refused because a typo would otherwise be silently ignored.
    JSON null counts as "not set" (the binder treats it the same way).
    """

    def __init__(self, file: str, path: str, raw: Any, known: Sequence[str]) -> None:
        self.file = file
        self.path = path
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(file, path or None, f"expected a JSON object, got {_show(raw)}")
        canonical = {name.lower(): name for name in known}
        self._items: dict[str, tuple[str, Any]] = {}
        for written, value in raw.items():
            name = canonical.get(written.lower())
            if name is None:
                raise self._unknown_key(written, known)
            if name in self._items:
                raise ConfigError(
                    file,
                    self._join(written),
                    f'repeats "{self._items[name][0]}" (keys are case-insensitive)',
                    "keep only one of them",
                )
            self._items[name] = (written, value)

    def _join(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _unknown_key(self, written: str, known: Sequence[str]) -> ConfigError:
        lowered = {name.lower(): name for name in known}
        close = difflib.get_close_matches(written.lower(), list(lowered), n=1, cutoff=0.6)
        hint = f'did you mean "{lowered[close[0]]}"? ' if close else "remove it. "
        return ConfigError(
            self.file, self._join(written), "unknown setting", f"{hint}Known keys: {', '.join(known)}"
        )

    def where(self, key: str) -> str:
        """The dotted path of a key, spelled as the user wrote it when present."""
        return self._join(self._items[key][0] if key in self._items else key)

    def get(self, key: str) -> Any:
        return self._items.get(key, (key, None))[1]

    def error(self, key: str, message: str, fix: str | None = None) -> ConfigError:
        return ConfigError(self.file, self.where(key), message, fix)

    def section(self, key: str, known: Sequence[str]) -> _Section:
        return _Section(self.file, self.where(key), self.get(key), known)

    def integer(self, key: str, default: int, low: int | None = None, high: int | None = None) -> int:
        value = self.optional_integer(key, low, high)
        return default if value is None else value

    def optional_integer(self, key: str, low: int | None = None, high: int | None = None) -> int | None:
        value = self.get(key)
        if value is None:
            return None
        # bool is an int subclass in Python, and JSON true is not a number.
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if is_int and (low is None or value >= low) and (high is None or value <= high):
            return value
        if low is not None and high is not None:
            expected, fix = f"an integer from {low} to {high}", f"set it to a number between {low} and {high}"
        elif low is not None:
            expected, fix = f"an integer of at least {low}", f"set it to a whole number >= {low}"
        else:
            expected, fix = "an integer", "write a whole number without quotes"
        raise self.error(key, f"expected {expected}, got {_show(value)}", fix)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.optional_boolean(key)
        return default if value is None else value

    def optional_boolean(self, key: str) -> bool | None:
        value = self.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self.error(
            key, f"expected true or false, got {_show(value)}", "use JSON true or false without quotes"
        )

    def string(self, key: str, default: str) -> str:
        value = self.optional_string(key)
        return default if value is None else value

    def optional_string(self, key: str) -> str | None:
        value = self.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self.error(key, f"expected a string, got {_show(value)}", "put the value in double quotes")

    def choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        """One of a fixed set, matched case-insensitively (like .NET enum parsing) and normalized."""
        value = self.string(key, default)
        for choice in choices:
            if choice.lower() == value.lower():
                return choice
        listed = ", ".join(f'"{c}"' for c in choices)
        raise self.error(key, f"expected one of {listed}, got {_show(value)}", f"use one of {listed}")

    def duration(
        self,
        key: str,
        default: float,
        *,
        allow_zero: bool = False,
        between: tuple[float, float] | None = None,
    ) -> float:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error(
                key, f'expected a duration string "hh:mm:ss", got {_show(value)}', 'write it like "00:05:00"'
            )
        seconds = parse_timespan(value, file=self.file, key=self.where(key))
        self.check_duration(key, seconds, allow_zero=allow_zero, between=between)
        return seconds

    def check_duration(
        self,
        key: str,
        seconds: float,
        *,
        allow_zero: bool = False,
        between: tuple[float, float] | None = None,
    ) -> None:
        shown = _show(self.get(key))
        if between is not None:
            low, high = between
            if not low <= seconds <= high:
                span = f"{_format_timespan(low)} and {_format_timespan(high)}"
                raise self.error(
                    key, f"expected a duration between {span}, got {shown}", f"pick a value between {span}"
                )
        elif seconds < 0 or (seconds == 0 and not allow_zero):
            sign = "zero or positive" if allow_zero else "positive"
            raise self.error(key, f"expected a {sign} duration, got {shown}", 'use a value like "00:00:30"')

    def raw_object(self, key: str) -> Mapping[str, Any]:
        value = self.get(key)
        if value is not None and not isinstance(value, dict):
            raise self.error(
                key, f"expected a JSON object, got {_show(value)}", "use { ... } or remove the key"
            )
        return _frozen(value)


# --------------------------------------------------------------------------------------------------
# File reading
# --------------------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    """The parsed file, or None when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # editors on Windows often write a BOM
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(path), None, f"not valid UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            str(path),
            None,
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            "correct the JSON syntax at that position (comments and trailing commas are not allowed)",
        ) from exc


# --------------------------------------------------------------------------------------------------
# host.json
# --------------------------------------------------------------------------------------------------

_HOST_KEYS = (
    "version",
    "aggregator",
    "concurrency",
    "console",
    "customHandler",
    "extensionBundle",
    "extensions",
    "functions",
    "functionTimeout",
    "healthMonitor",
    "logging",
    "managedDependency",
    "retry",
    "singleton",
    "telemetryMode",
    "watchDirectories",
    "watchFiles",
)
# Sections that Functions 1.x kept at the root; 2.0 moved them under "extensions".
_V1_ROOT_SECTIONS = ("durabletask", "http", "queues")

_DURABLE_TASK_KEYS = (
    "hubName",
    "storageProvider",
    "defaultVersion",
    "versionMatchStrategy",
    "versionFailureStrategy",
    "maxConcurrentActivityFunctions",
    "maxConcurrentOrchestratorFunctions",
    "maxConcurrentEntityFunctions",
    "maxEntityOperationBatchSize",
    "extendedSessionsEnabled",
    "extendedSessionIdleTimeoutInSeconds",
    "maxOrchestrationActions",
    "overridableExistingInstanceStates",
    "entityMessageReorderWindowInMinutes",
    "rollbackEntityOperationsOnExceptions",
    "throwStatusExceptionsOnRaiseEvent",
    "useAppLease",
    "appLeaseOptions",
    "useGracefulShutdown",
    "storeInputsInOrchestrationHistory",
    "localRpcEndpointEnabled",
    "httpSettings",
    "tracing",
    "notifications",
    # Used only by .NET-isolated and Java workers; accepted so a shared host.json still loads.
    "maxGrpcMessageSizeInBytes",
    "grpcHttpClientTimeout",
)

_STORAGE_PROVIDER_KEYS = (
    "type",
    "connectionName",
    "connectionStringName",
    "azureStorageConnectionStringName",
    "partitionCount",
    "controlQueueBatchSize",
    "controlQueueBufferThreshold",
    "controlQueueVisibilityTimeout",
    "workItemQueueVisibilityTimeout",
    "maxQueuePollingInterval",
    "useTablePartitionManagement",
    "useLegacyPartitionManagement",
    "fetchLargeMessagesAutomatically",
    "trackingStoreConnectionName",
    "trackingStoreConnectionStringName",
    "trackingStoreNamePrefix",
    "allowReplayingTerminalInstances",
    "QueueClientMessageEncoding",
)

_HTTP_SETTINGS_KEYS = ("defaultAsyncRequestSleepTimeMilliseconds", "useForwardedHost")

_HTTP_EXTENSION_KEYS = (
    "routePrefix",
    "maxConcurrentRequests",
    "maxOutstandingRequests",
    "dynamicThrottlesEnabled",
    "hsts",
    "customHeaders",
)

_QUEUES_KEYS = (
    "maxPollingInterval",
    "visibilityTimeout",
    "batchSize",
    "maxDequeueCount",
    "newBatchThreshold",
    "messageEncoding",
)


def load_host_json(path: Path, environ: Mapping[str, str]) -> HostSettings:
    """Parse and validate host.json; a missing file means all defaults."""
    data = _read_json(path)
    file = str(path)
    if data is None:
        return HostSettings(durable_task=_parse_durable_task(_unset_durable_task(file), environ))
    _reject_v1_root_sections(file, data)
    root = _Section(file, "", data, _HOST_KEYS)
    version = _check_version(root)
    extensions = _extensions(root)
    durable_task = extensions.get("durableTask") or _unset_durable_task(file)
    return HostSettings(
        version=version,
        durable_task=_parse_durable_task(durable_task, environ),
        http=_parse_http_extension(extensions.get("http")),
        queues=_parse_queues(extensions.get("queues")),
        function_timeout=_function_timeout(root),
        functions=_functions(root),
        raw=_frozen(data),
    )


def _unset_durable_task(file: str) -> _Section:
    # Defaults still need a real path: a default hub name can be refused (deployment slots).
    return _Section(file, "extensions.durableTask", None, _DURABLE_TASK_KEYS)


def _reject_v1_root_sections(file: str, data: Any) -> None:
    """Give 1.x-style files a precise fix instead of a generic unknown-key error."""
    if not isinstance(data, dict):
        return
    for key in data:
        if key.lower() in _V1_ROOT_SECTIONS:
            raise ConfigError(
                file,
                key,
                'is a Functions 1.x location; the 2.0 schema keeps extension settings under "extensions"',
                f'move it to "extensions": {{"{key}": ...}}',
            )


def _check_version(root: _Section) -> str:
    value = root.get("version")
    if value is None:
        raise root.error("version", "is missing", f'add "version": "{SUPPORTED_HOST_VERSION}"')
    if value != SUPPORTED_HOST_VERSION:
        raise root.error(
            "version",
            f"got {_show(value)}, but only the Functions 2.0 host.json schema "
            f'(version "{SUPPORTED_HOST_VERSION}") is supported',
            f'set "version": "{SUPPORTED_HOST_VERSION}" (a string) and use the 2.0 layout',
        )
    return SUPPORTED_HOST_VERSION


def _extensions(root: _Section) -> dict[str, _Section]:
    """The parsed extension sections, keyed by canonical name; other extensions pass through untouched."""
    raw = root.get("extensions")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise root.error("extensions", f"expected a JSON object, got {_show(raw)}")
    parsed = {
        "durabletask": ("durableTask", _DURABLE_TASK_KEYS),
        "http": ("http", _HTTP_EXTENSION_KEYS),
        "queues": ("queues", _QUEUES_KEYS),
    }
    sections: dict[str, _Section] = {}
    for written, value in raw.items():
        if written.lower() not in parsed:
            continue
        name, known = parsed[written.lower()]
        path = f"{root.where('extensions')}.{written}"
        if name in sections:
            raise ConfigError(root.file, path, "is given twice (keys are case-insensitive)", "merge them")
        sections[name] = _Section(root.file, path, value, known)
    return sections


def _function_timeout(root: _Section) -> float | None:
    value = root.get("functionTimeout")
    # "-1" is the documented spelling of "no timeout".
    if value is None or value == "-1":
        return None
    return root.duration("functionTimeout", 0.0)


def _functions(root: _Section) -> tuple[str, ...] | None:
    value = root.get("functions")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise root.error(
            "functions",
            f"expected a list of function names, got {_show(value)}",
            'use ["FunctionA", "FunctionB"]',
        )
    return tuple(value)


def _parse_durable_task(section: _Section, environ: Mapping[str, str]) -> DurableTaskSettings:
    hub_name, explicit = _hub_name(section, environ)
    return DurableTaskSettings(
        hub_name=hub_name,
        hub_name_explicit=explicit,
        storage_provider=_parse_storage_provider(section.section("storageProvider", _STORAGE_PROVIDER_KEYS)),
        max_concurrent_activity_functions=section.integer(
            "maxConcurrentActivityFunctions", _default_concurrency(), 1
        ),
        max_concurrent_orchestrator_functions=section.integer(
            "maxConcurrentOrchestratorFunctions", _default_concurrency(), 1
        ),
        max_concurrent_entity_functions=section.integer(
            "maxConcurrentEntityFunctions", _default_concurrency(), 1
        ),
        max_entity_operation_batch_size=section.integer("maxEntityOperationBatchSize", 5000, 1),
        extended_sessions_enabled=section.boolean("extendedSessionsEnabled", False),
        extended_session_idle_timeout_in_seconds=section.integer(
            "extendedSessionIdleTimeoutInSeconds", 30, 0
        ),
        max_orchestration_actions=section.integer("maxOrchestrationActions", 100000, 1),
        overridable_existing_instance_states=section.choice(
            "overridableExistingInstanceStates", "NonRunningStates", ("NonRunningStates", "AnyState")
        ),
        entity_message_reorder_window_in_minutes=section.integer(
            "entityMessageReorderWindowInMinutes", 30, 0
        ),
        store_inputs_in_orchestration_history=section.boolean("storeInputsInOrchestrationHistory", False),
        local_rpc_endpoint_enabled=section.optional_boolean("localRpcEndpointEnabled"),
        default_version=section.optional_string("defaultVersion"),
        version_match_strategy=section.choice(
            "versionMatchStrategy", "CurrentOrOlder", ("None", "Strict", "CurrentOrOlder")
        ),
        version_failure_strategy=section.choice("versionFailureStrategy", "Reject", ("Reject", "Fail")),
        use_app_lease=section.boolean("useAppLease", True),
        use_graceful_shutdown=section.boolean("useGracefulShutdown", False),
        throw_status_exceptions_on_raise_event=section.optional_boolean("throwStatusExceptionsOnRaiseEvent"),
        rollback_entity_operations_on_exceptions=section.boolean(
            "rollbackEntityOperationsOnExceptions", True
        ),
        http_settings=_parse_http_settings(section.section("httpSettings", _HTTP_SETTINGS_KEYS)),
        tracing=section.raw_object("tracing"),
        notifications=section.raw_object("notifications"),
        app_lease_options=section.raw_object("appLeaseOptions"),
    )


def _parse_storage_provider(section: _Section) -> StorageProviderSettings:
    connection = _first_string(
        section, ("connectionName", "connectionStringName", "azureStorageConnectionStringName")
    )
    tracking = _first_string(section, ("trackingStoreConnectionName", "trackingStoreConnectionStringName"))
    settings = StorageProviderSettings(
        type=_provider_type(section),
        connection_name=connection or "AzureWebJobsStorage",
        partition_count=section.integer("partitionCount", 4, 1, 16),
        control_queue_batch_size=section.integer("controlQueueBatchSize", 32, 1, 32),
        control_queue_buffer_threshold=section.integer("controlQueueBufferThreshold", 256, 1, 1000),
        control_queue_visibility_timeout=section.duration(
            "controlQueueVisibilityTimeout", 300.0, between=(60.0, 3600.0)
        ),
        work_item_queue_visibility_timeout=section.duration("workItemQueueVisibilityTimeout", 300.0),
        max_queue_polling_interval=section.duration("maxQueuePollingInterval", 30.0),
        use_table_partition_management=section.boolean("useTablePartitionManagement", True),
        use_legacy_partition_management=section.boolean("useLegacyPartitionManagement", False),
        fetch_large_messages_automatically=section.boolean("fetchLargeMessagesAutomatically", True),
        tracking_store_connection_name=tracking,
        tracking_store_name_prefix=section.string("trackingStoreNamePrefix", "DurableTask"),
        allow_replaying_terminal_instances=section.boolean("allowReplayingTerminalInstances", False),
        queue_client_message_encoding=section.choice(
            "QueueClientMessageEncoding", "UTF8", ("UTF8", "Base64")
        ),
    )
    if settings.use_table_partition_management and settings.use_legacy_partition_management:
        # DurableTask.AzureStorage refuses this combination at start-up; say so before anything runs.
        raise section.error(
            "useLegacyPartitionManagement",
            "cannot be combined with table partition management, which is on by default",
            "also set useTablePartitionManagement to false, or drop useLegacyPartitionManagement",
        )
    return settings


def _provider_type(section: _Section) -> str:
    value = section.string("type", "AzureStorage")
    try:
        return _PROVIDER_TYPES[value.lower()]
    except KeyError:
        supported = ", ".join(f'"{name}"' for name in _PROVIDER_TYPES.values())
        raise section.error(
            "type",
            f"storage provider {_show(value)} is not supported by this host",
            f"use one of {supported}",
        ) from None


def _first_string(section: _Section, keys: Sequence[str]) -> str | None:
    """The first key that is set, for settings with older alternative names."""
    for key in keys:
        value = section.optional_string(key)
        if value is not None:
            if not value:
                raise section.error(
                    key, "must not be empty", 'name an app setting, e.g. "AzureWebJobsStorage"'
                )
            return value
    return None


def _parse_http_settings(section: _Section) -> HttpSettings:
    return HttpSettings(
        default_async_request_sleep_time_milliseconds=section.integer(
            "defaultAsyncRequestSleepTimeMilliseconds", 30000, 1
        ),
        use_forwarded_host=section.boolean("useForwardedHost", False),
    )


def _parse_http_extension(section: _Section | None) -> HttpExtensionSettings:
    if section is None:
        return HttpExtensionSettings()
    # Surrounding slashes would only produce "//" in routes; "" (no prefix) stays allowed.
    return HttpExtensionSettings(route_prefix=section.string("routePrefix", "api").strip("/"))


def _parse_queues(section: _Section | None) -> QueuesSettings:
    if section is None:
        return QueuesSettings()
    return QueuesSettings(
        max_polling_interval=_polling_interval(section),
        visibility_timeout=section.duration("visibilityTimeout", 0.0, allow_zero=True),
        batch_size=section.integer("batchSize", 16, 1, 32),
        max_dequeue_count=section.integer("maxDequeueCount", 5, 1),
        new_batch_threshold=section.optional_integer("newBatchThreshold", 0),
        message_encoding=section.choice("messageEncoding", "base64", ("base64", "none")),
    )


def _polling_interval(section: _Section) -> float:
    # Older queue extensions took milliseconds as a number; newer ones a TimeSpan string.
    value = section.get("maxPollingInterval")
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value / 1000
        section.check_duration("maxPollingInterval", seconds)
        return seconds
    if value is None or isinstance(value, str):
        return section.duration("maxPollingInterval", 60.0)
    raise section.error(
        "maxPollingInterval",
        f'expected a duration "hh:mm:ss" or a number of milliseconds, got {_show(value)}',
        'write it like "00:00:02" or 2000',
    )


# --------------------------------------------------------------------------------------------------
# Task hub name
# --------------------------------------------------------------------------------------------------

_HUB_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_SETTING_REF_RE = re.compile(r"%([^%]+)%")
_HUB_NAME_RULE = (
    "use letters and digits only, starting with a letter; 3-45 characters is recommended (50 at most)"
)


def _hub_name(section: _Section, environ: Mapping[str, str]) -> tuple[str, bool]:
    """The task hub name and whether it was configured explicitly."""
    written = section.optional_string("hubName")
    if written is None:
        return _default_hub_name(section, environ), False
    name = _resolve_setting_refs(written, section, environ)
    if not (_HUB_NAME_RE.fullmatch(name) and 3 <= len(name) <= 50):
        raise section.error(
            "hubName",
            f"task hub name {_show(name)} is not valid: {_HUB_NAME_RULE}",
            f'rename it, e.g. to "{sanitize_hub_name(name)}"',
        )
    return name, True


def _resolve_setting_refs(text: str, section: _Section, environ: Mapping[str, str]) -> str:
    """Expand %AppSetting% references the way the Functions name resolver does."""

    def lookup(match: re.Match[str]) -> str:
        setting = match[1]
        if setting not in environ:
            raise section.error(
                "hubName",
                f'refers to app setting "{setting}", which is not set',
                f'add "{setting}" to Values in local.settings.json or to the environment',
            )
        return environ[setting]

    return _SETTING_REF_RE.sub(lookup, text)


def _default_hub_name(section: _Section, environ: Mapping[str, str]) -> str:
    slot = environ.get("WEBSITE_SLOT_NAME", "")
    if slot and slot.lower() != "production":
        # Slots of one app would otherwise share (and fight over) the same task hub.
        raise section.error(
            "hubName",
            f'must be set explicitly in the non-production deployment slot "{slot}"',
            'set it to a per-slot app setting, e.g. "%MyTaskHub%"',
        )
    site = environ.get("WEBSITE_SITE_NAME")
    return sanitize_hub_name(site) if site else DEFAULT_HUB_NAME


def sanitize_hub_name(name: str) -> str:
    """Turn an arbitrary name (usually the app name) into a valid task hub name."""
    kept = "".join(c for c in name if c.isascii() and c.isalnum())
    if not kept:
        return "DefaultTaskHub"
    if kept[0].isdigit():
        kept = "t" + kept
    kept = kept[:45]
    return kept + "Hub" if len(kept) < 3 else kept


# --------------------------------------------------------------------------------------------------
# local.settings.json
# --------------------------------------------------------------------------------------------------

_LOCAL_KEYS = ("IsEncrypted", "Values", "Host", "ConnectionStrings")
_LOCAL_HOST_KEYS = ("LocalHttpPort", "CORS", "CORSCredentials")


def load_local_settings(path: Path) -> LocalSettings:
    """Parse local.settings.json; a missing file means no settings."""
    data = _read_json(path)
    if data is None:
        return LocalSettings()
    root = _Section(str(path), "", data, _LOCAL_KEYS)
    if root.boolean("IsEncrypted", False):
        raise root.error(
            "IsEncrypted",
            "encrypted settings can only be read by Azure Functions Core Tools "
            "on the machine that encrypted them",
            "run `func settings decrypt`, or store plain values and set IsEncrypted to false",
        )
    host = root.section("Host", _LOCAL_HOST_KEYS)
    return LocalSettings(
        is_encrypted=False,
        values=_string_map(root, "Values", convert_scalars=True),
        connection_strings=_string_map(root, "ConnectionStrings", convert_scalars=False),
        local_http_port=host.optional_integer("LocalHttpPort", 1, 65535),
        cors=host.optional_string("CORS"),
        cors_credentials=host.boolean("CORSCredentials", False),
    )


def _string_map(root: _Section, key: str, *, convert_scalars: bool) -> Mapping[str, str]:
    raw = root.get(key)
    if raw is None:
        return _empty()
    if not isinstance(raw, dict):
        raise root.error(key, f"expected a JSON object of names to strings, got {_show(raw)}")
    result: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            result[name] = value
        # Core Tools reads numbers and booleans as their text; keep that (True -> "True", like .NET).
        elif convert_scalars and isinstance(value, (bool, int, float)):
            result[name] = str(value)
        else:
            raise ConfigError(
                root.file,
                f"{root.where(key)}.{name}",
                f"expected a string, got {_show(value)}",
                'write the value as a JSON string, e.g. "" for empty',
            )
    return MappingProxyType(result)


def apply_values_to_environ(local: LocalSettings, environ: MutableMapping[str, str]) -> None:
    """Copy Values into the environment; real environment variables win, as with Core Tools."""
    for name, value in local.values.items():
        if name not in environ:
            environ[name] = value


def get_connection_string(name: str, local: LocalSettings, environ: Mapping[str, str]) -> str | None:
    """The connection string an app setting name refers to, or None when it is not configured.

    An empty value is returned as "" so callers can tell "set but empty" from "missing".
    """
    for source, key in (
        (environ, name),
        (local.values, name),
        (environ, f"ConnectionStrings:{name}"),
        # The .NET configuration system maps "__" in environment variable names to ":".
        (environ, f"ConnectionStrings__{name}"),
        (local.connection_strings, name),
    ):
        if key in source:
            return source[key]
    return None
