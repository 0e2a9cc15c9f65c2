"""Tests for host.json / local.settings.json loading and validation."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from durable_ext.config import (
    ConfigError,
    DurableTaskSettings,
    HostSettings,
    LocalSettings,
    StorageProviderSettings,
    apply_values_to_environ,
    get_connection_string,
    load_host_json,
    load_local_settings,
    parse_timespan,
    sanitize_hub_name,
)

CPU_DEFAULT = 10 * (os.cpu_count() or 1)


def write_host(tmp_path: Path, durable_task: dict[str, Any] | None = None, **top: Any) -> Path:
    body: dict[str, Any] = {"version": "2.0", **top}
    if durable_task is not None:
        body.setdefault("extensions", {})["durableTask"] = durable_task
    path = tmp_path / "host.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def write_local(tmp_path: Path, body: Any) -> Path:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def host_error(path: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_host_json(path, environ or {})
    return info.value


def assert_names(error: ConfigError, file: Path, key: str) -> None:
    """Every error must point at the file and the offending key."""
    text = str(error)
    assert str(file) in text
    assert key in text
    assert error.file == str(file)
    assert error.key == key


def storage(tmp_path: Path, provider: dict[str, Any]) -> StorageProviderSettings:
    path = write_host(tmp_path, {"storageProvider": provider})
    return load_host_json(path, {}).durable_task.storage_provider


# -- defaults ------------------------------------------------------------------------------------


def test_missing_host_json_gives_defaults(tmp_path: Path) -> None:
    settings = load_host_json(tmp_path / "host.json", {})
    assert settings.version == "2.0"
    assert settings.durable_task == DurableTaskSettings()
    assert settings.function_timeout is None
    assert settings.functions is None
    assert settings.http.route_prefix == "api"
    assert settings.queues.max_polling_interval == 60.0


def test_minimal_host_json_gives_documented_defaults(tmp_path: Path) -> None:
    settings = load_host_json(write_host(tmp_path), {})
    dt = settings.durable_task
    assert (dt.hub_name, dt.hub_name_explicit) == ("TestHubName", False)
    assert dt.max_concurrent_activity_functions == CPU_DEFAULT
    assert dt.max_concurrent_orchestrator_functions == CPU_DEFAULT
    assert dt.max_concurrent_entity_functions == CPU_DEFAULT
    assert dt.max_entity_operation_batch_size == 5000
    assert dt.max_orchestration_actions == 100000
    assert dt.overridable_existing_instance_states == "NonRunningStates"
    assert dt.version_match_strategy == "CurrentOrOlder"
    assert dt.version_failure_strategy == "Reject"
    assert dt.use_app_lease is True
    assert dt.rollback_entity_operations_on_exceptions is True
    assert dt.local_rpc_endpoint_enabled is None
    assert dt.throw_status_exceptions_on_raise_event is None
    assert dt.http_settings.default_async_request_sleep_time_milliseconds == 30000
    sp = dt.storage_provider
    assert sp == StorageProviderSettings()
    assert sp.type == "AzureStorage" and not sp.is_embedded
    assert sp.connection_name == "AzureWebJobsStorage"
    assert sp.partition_count == 4
    assert sp.control_queue_buffer_threshold == 256
    assert sp.control_queue_visibility_timeout == 300.0
    assert sp.max_queue_polling_interval == 30.0
    assert sp.use_table_partition_management is True
    assert sp.queue_client_message_encoding == "UTF8"
    q = settings.queues
    assert (q.batch_size, q.max_dequeue_count, q.new_batch_threshold, q.message_encoding) == (
        16,
        5,
        None,
        "base64",
    )


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_host_json(write_host(tmp_path, {"tracing": {"traceInputsAndOutputs": True}}), {})
    with pytest.raises(AttributeError):
        settings.version = "3.0"  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.durable_task.tracing["x"] = 1  # type: ignore[index]


# -- every documented key --------------------------------------------------------------------------


def test_every_documented_key_is_parsed(tmp_path: Path) -> None:
    durable_task = {
        "hubName": "MyHub",
        "defaultVersion": "1.0",
        "versionMatchStrategy": "Strict",
        "versionFailureStrategy": "Fail",
        "maxConcurrentActivityFunctions": 3,
        "maxConcurrentOrchestratorFunctions": 4,
        "maxConcurrentEntityFunctions": 5,
        "maxEntityOperationBatchSize": 1,
        "extendedSessionsEnabled": True,
        "extendedSessionIdleTimeoutInSeconds": 60,
        "maxOrchestrationActions": 500,
        "overridableExistingInstanceStates": "AnyState",
        "entityMessageReorderWindowInMinutes": 10,
        "rollbackEntityOperationsOnExceptions": False,
        "throwStatusExceptionsOnRaiseEvent": True,
        "useAppLease": False,
        "appLeaseOptions": {"renewInterval": "00:00:20"},
        "useGracefulShutdown": True,
        "storeInputsInOrchestrationHistory": True,
        "localRpcEndpointEnabled": False,
        "httpSettings": {"defaultAsyncRequestSleepTimeMilliseconds": 500, "useForwardedHost": True},
        "tracing": {"traceInputsAndOutputs": True},
        "notifications": {"eventGrid": {"publishRetryCount": 2}},
        "maxGrpcMessageSizeInBytes": 1024,
        "storageProvider": {
            "type": "AzureStorage",
            "connectionName": "MyStorage",
            "partitionCount": 8,
            "controlQueueBatchSize": 16,
            "controlQueueBufferThreshold": 64,
            "controlQueueVisibilityTimeout": "00:02:00",
            "workItemQueueVisibilityTimeout": "00:01:30",
            "maxQueuePollingInterval": "00:00:05",
            "useTablePartitionManagement": False,
            "useLegacyPartitionManagement": True,
            "fetchLargeMessagesAutomatically": False,
            "trackingStoreConnectionName": "Tracking",
            "trackingStoreNamePrefix": "Track",
            "allowReplayingTerminalInstances": True,
            "QueueClientMessageEncoding": "Base64",
        },
    }
    extensions = {
        "durableTask": durable_task,
        "http": {"routePrefix": "", "maxConcurrentRequests": 10, "hsts": {"isEnabled": True}},
        "queues": {
            "maxPollingInterval": "00:00:02",
            "visibilityTimeout": "00:00:30",
            "batchSize": 8,
            "maxDequeueCount": 3,
            "newBatchThreshold": 4,
            "messageEncoding": "none",
        },
        "serviceBus": {"anything": "goes"},
    }
    path = write_host(
        tmp_path,
        extensions=extensions,
        functionTimeout="00:10:00",
        functions=["Hello", "Orchestrator"],
        logging={"logLevel": {"default": "Information"}},
    )
    settings = load_host_json(path, {})

    assert settings.function_timeout == 600.0
    assert settings.functions == ("Hello", "Orchestrator")
    assert settings.raw["logging"] == {"logLevel": {"default": "Information"}}
    assert settings.http.route_prefix == ""
    assert settings.queues.max_polling_interval == 2.0
    assert settings.queues.visibility_timeout == 30.0
    assert settings.queues.batch_size == 8
    assert settings.queues.max_dequeue_count == 3
    assert settings.queues.new_batch_threshold == 4
    assert settings.queues.message_encoding == "none"

    dt = settings.durable_task
    assert (dt.hub_name, dt.hub_name_explicit) == ("MyHub", True)
    assert dt.default_version == "1.0"
    assert dt.version_match_strategy == "Strict"
    assert dt.version_failure_strategy == "Fail"
    assert dt.max_concurrent_activity_functions == 3
    assert dt.max_concurrent_orchestrator_functions == 4
    assert dt.max_concurrent_entity_functions == 5
    assert dt.max_entity_operation_batch_size == 1
    assert dt.extended_sessions_enabled is True
    assert dt.extended_session_idle_timeout_in_seconds == 60
    assert dt.max_orchestration_actions == 500
    assert dt.overridable_existing_instance_states == "AnyState"
    assert dt.entity_message_reorder_window_in_minutes == 10
    assert dt.rollback_entity_operations_on_exceptions is False
    assert dt.throw_status_exceptions_on_raise_event is True
    assert dt.use_app_lease is False
    assert dt.app_lease_options == {"renewInterval": "00:00:20"}
    assert dt.use_graceful_shutdown is True
    assert dt.store_inputs_in_orchestration_history is True
    assert dt.local_rpc_endpoint_enabled is False
    assert dt.http_settings.default_async_request_sleep_time_milliseconds == 500
    assert dt.http_settings.use_forwarded_host is True
    assert dt.tracing == {"traceInputsAndOutputs": True}
    assert dt.notifications == {"eventGrid": {"publishRetryCount": 2}}

    sp = dt.storage_provider
    assert sp.connection_name == "MyStorage"
    assert sp.partition_count == 8
    assert sp.control_queue_batch_size == 16
    assert sp.control_queue_buffer_threshold == 64
    assert sp.control_queue_visibility_timeout == 120.0
    assert sp.work_item_queue_visibility_timeout == 90.0
    assert sp.max_queue_polling_interval == 5.0
    assert sp.use_table_partition_management is False
    assert sp.use_legacy_partition_management is True
    assert sp.fetch_large_messages_automatically is False
    assert sp.tracking_store_connection_name == "Tracking"
    assert sp.tracking_store_name_prefix == "Track"
    assert sp.allow_replaying_terminal_instances is True
    assert sp.queue_client_message_encoding == "Base64"


@pytest.mark.parametrize("kind", ["embedded", "SQLite", "Embedded"])
def test_embedded_provider_types(tmp_path: Path, kind: str) -> None:
    assert storage(tmp_path, {"type": kind}).is_embedded


def test_queue_polling_interval_accepts_milliseconds(tmp_path: Path) -> None:
    path = write_host(tmp_path, extensions={"queues": {"maxPollingInterval": 2500}})
    assert load_host_json(path, {}).queues.max_polling_interval == 2.5


def test_route_prefix_slashes_are_trimmed(tmp_path: Path) -> None:
    path = write_host(tmp_path, extensions={"http": {"routePrefix": "/v1/"}})
    assert load_host_json(path, {}).http.route_prefix == "v1"


def test_function_timeout_minus_one_means_unbounded(tmp_path: Path) -> None:
    assert load_host_json(write_host(tmp_path, functionTimeout="-1"), {}).function_timeout is None


def test_bom_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_bytes(b'\xef\xbb\xbf{"version": "2.0"}')
    assert load_host_json(path, {}).version == "2.0"


# -- case-insensitive keys and legacy names --------------------------------------------------------


def test_durable_task_and_storage_keys_are_case_insensitive(tmp_path: Path) -> None:
    path = write_host(
        tmp_path,
        extensions={
            "DurableTask": {
                "HubName": "CaseHub",
                "MAXCONCURRENTACTIVITYFUNCTIONS": 7,
                "StorageProvider": {
                    "PartitionCount": 2,
                    "FetchLargeMessagesAutomatically": False,
                    "queueClientMessageEncoding": "base64",
                },
            }
        },
    )
    dt = load_host_json(path, {}).durable_task
    assert dt.hub_name == "CaseHub"
    assert dt.max_concurrent_activity_functions == 7
    assert dt.storage_provider.partition_count == 2
    assert dt.storage_provider.fetch_large_messages_automatically is False
    assert dt.storage_provider.queue_client_message_encoding == "Base64"  # normalized


def test_keys_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    path = write_host(tmp_path, {"storageProvider": {"partitionCount": 2, "PartitionCount": 3}})
    error = host_error(path)
    assert_names(error, path, "extensions.durableTask.storageProvider.PartitionCount")
    assert "case-insensitive" in str(error)


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("connectionStringName", "connection_name"),
        ("azureStorageConnectionStringName", "connection_name"),
        ("trackingStoreConnectionStringName", "tracking_store_connection_name"),
    ],
)
def test_legacy_connection_keys(tmp_path: Path, key: str, field: str) -> None:
    assert getattr(storage(tmp_path, {key: "LegacyConn"}), field) == "LegacyConn"


def test_connection_name_wins_over_legacy_key(tmp_path: Path) -> None:
    sp = storage(tmp_path, {"connectionStringName": "Old", "connectionName": "New"})
    assert sp.connection_name == "New"


# -- hub name --------------------------------------------------------------------------------------


def test_hub_name_setting_reference_is_resolved(tmp_path: Path) -> None:
    path = write_host(tmp_path, {"hubName": "%MyTaskHub%"})
    dt = load_host_json(path, {"MyTaskHub": "ResolvedHub"}).durable_task
    assert (dt.hub_name, dt.hub_name_explicit) == ("ResolvedHub", True)


def test_hub_name_missing_setting_is_named(tmp_path: Path) -> None:
    path = write_host(tmp_path, {"hubName": "%MyTaskHub%"})
    error = host_error(path)
    assert_names(error, path, "extensions.durableTask.hubName")
    assert '"MyTaskHub"' in str(error)


def test_hub_name_resolved_value_is_validated(tmp_path: Path) -> None:
    path = write_host(tmp_path, {"hubName": "%MyTaskHub%"})
    error = host_error(path, {"MyTaskHub": "bad-name"})
    assert_names(error, path, "extensions.durableTask.hubName")


@pytest.mark.parametrize("name", ["my-hub", "1hub", "ab", "a" * 51, "", "hub name"])
def test_invalid_hub_names(tmp_path: Path, name: str) -> None:
    path = write_host(tmp_path, {"hubName": name})
    error = host_error(path)
    assert_names(error, path, "extensions.durableTask.hubName")
    assert "letters and digits" in str(error)
    assert "starting with a letter" in str(error)
    assert "3-45" in str(error)


@pytest.mark.parametrize("name", ["abc", "Hub1", "a" * 50])
def test_valid_hub_names(tmp_path: Path, name: str) -> None:
    assert load_host_json(write_host(tmp_path, {"hubName": name}), {}).durable_task.hub_name == name


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        ("my-func-app", "myfuncapp"),
        ("123app", "t123app"),
        ("a", "aHub"),
        ("---", "DefaultTaskHub"),
        ("x" * 60, "x" * 45),
    ],
)
def test_default_hub_name_from_site_name_is_sanitized(tmp_path: Path, site: str, expected: str) -> None:
    dt = load_host_json(write_host(tmp_path), {"WEBSITE_SITE_NAME": site}).durable_task
    assert (dt.hub_name, dt.hub_name_explicit) == (expected, False)
    assert sanitize_hub_name(site) == expected


def test_default_hub_name_refused_in_non_production_slot(tmp_path: Path) -> None:
    path = write_host(tmp_path)
    error = host_error(path, {"WEBSITE_SITE_NAME": "app", "WEBSITE_SLOT_NAME": "staging"})
    assert_names(error, path, "extensions.durableTask.hubName")
    assert load_host_json(path, {"WEBSITE_SLOT_NAME": "Production"}).durable_task.hub_name == "TestHubName"


# -- unknown keys ----------------------------------------------------------------------------------


def test_unknown_storage_key_suggests_closest(tmp_path: Path) -> None:
    path = write_host(tmp_path, {"storageProvider": {"partitionCont": 4}})
    error = host_error(path)
    assert_names(error, path, "extensions.durableTask.storageProvider.partitionCont")
    assert 'did you mean "partitionCount"?' in str(error)


def test_unknown_durable_task_key_suggests_closest(tmp_path: Path) -> None:
    path = write_host(tmp_path, {"maxConcurrentActivityFunction": 4})
    error = host_error(path)
    assert_names(error, path, "extensions.durableTask.maxConcurrentActivityFunction")
    assert 'did you mean "maxConcurrentActivityFunctions"?' in str(error)


def test_unknown_top_level_key_lists_known_keys(tmp_path: Path) -> None:
    path = write_host(tmp_path, functionTimout="00:05:00")
    error = host_error(path)
    assert_names(error, path, "functionTimout")
    assert 'did you mean "functionTimeout"?' in str(error)
    assert "extensionBundle" in str(error) and "watchFiles" in str(error)


@pytest.mark.parametrize("section", ["http", "queues"])
def test_unknown_key_in_http_and_queues(tmp_path: Path, section: str) -> None:
    path = write_host(tmp_path, extensions={section: {"bogusSetting": 1}})
    assert_names(host_error(path), path, f"extensions.{section}.bogusSetting")


def test_other_extensions_are_not_checked(tmp_path: Path) -> None:
    path = write_host(tmp_path, extensions={"eventHubs": {"whatever": [1, 2]}})
    assert load_host_json(path, {}).raw["extensions"] == {"eventHubs": {"whatever": [1, 2]}}


def test_v1_root_durable_task_is_refused_with_move_hint(tmp_path: Path) -> None:
    path = write_host(tmp_path, durableTask={"hubName": "Hub"})
    error = host_error(path)
    assert_names(error, path, "durableTask")
    assert '"extensions"' in str(error)


# -- ill-typed values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("durable_task", "key", "expected"),
    [
        ({"useAppLease": "true"}, "useAppLease", "true or false"),
        ({"useAppLease": 1}, "useAppLease", "true or false"),
        ({"maxOrchestrationActions": "100"}, "maxOrchestrationActions", "integer"),
        ({"maxOrchestrationActions": 1.5}, "maxOrchestrationActions", "integer"),
        ({"maxOrchestrationActions": True}, "maxOrchestrationActions", "integer"),
        ({"maxConcurrentActivityFunctions": 0}, "maxConcurrentActivityFunctions", "at least 1"),
        ({"hubName": 5}, "hubName", "string"),
        ({"defaultVersion": 2}, "defaultVersion", "string"),
        ({"versionMatchStrategy": "Newest"}, "versionMatchStrategy", '"CurrentOrOlder"'),
        ({"overridableExistingInstanceStates": "All"}, "overridableExistingInstanceStates", '"AnyState"'),
        ({"tracing": "verbose"}, "tracing", "JSON object"),
        ({"storageProvider": []}, "storageProvider", "JSON object"),
        (
            {"httpSettings": {"useForwardedHost": "yes"}},
            "httpSettings.useForwardedHost",
            "true or false",
        ),
        (
            {"storageProvider": {"maxQueuePollingInterval": 30}},
            "storageProvider.maxQueuePollingInterval",
            "hh:mm:ss",
        ),
        (
            {"storageProvider": {"maxQueuePollingInterval": "30"}},
            "storageProvider.maxQueuePollingInterval",
            "days",
        ),
        (
            {"storageProvider": {"maxQueuePollingInterval": "00:00:00"}},
            "storageProvider.maxQueuePollingInterval",
            "positive",
        ),
        (
            {"storageProvider": {"controlQueueVisibilityTimeout": "00:00:10"}},
            "storageProvider.controlQueueVisibilityTimeout",
            "between 00:01:00 and 01:00:00",
        ),
        (
            {"storageProvider": {"controlQueueBatchSize": 33}},
            "storageProvider.controlQueueBatchSize",
            "from 1 to 32",
        ),
        (
            {"storageProvider": {"controlQueueBufferThreshold": 1001}},
            "storageProvider.controlQueueBufferThreshold",
            "from 1 to 1000",
        ),
        (
            {"storageProvider": {"QueueClientMessageEncoding": "UTF16"}},
            "storageProvider.QueueClientMessageEncoding",
            '"Base64"',
        ),
        ({"storageProvider": {"connectionName": ""}}, "storageProvider.connectionName", "empty"),
        ({"storageProvider": {"type": "Netherite"}}, "storageProvider.type", "not supported"),
        (
            {"storageProvider": {"useLegacyPartitionManagement": True}},
            "storageProvider.useLegacyPartitionManagement",
            "useTablePartitionManagement",
        ),
    ],
)
def test_ill_typed_durable_task_values(
    tmp_path: Path, durable_task: dict[str, Any], key: str, expected: str
) -> None:
    path = write_host(tmp_path, durable_task)
    error = host_error(path)
    assert_names(error, path, f"extensions.durableTask.{key}")
    assert expected in str(error)


@pytest.mark.parametrize(
    ("top", "key", "expected"),
    [
        ({"functionTimeout": 300}, "functionTimeout", "hh:mm:ss"),
        ({"functionTimeout": "5 minutes"}, "functionTimeout", "hh:mm:ss"),
        ({"functionTimeout": "00:61:00"}, "functionTimeout", "out of range"),
        ({"functions": "Hello"}, "functions", "list of function names"),
        ({"extensions": []}, "extensions", "JSON object"),
        ({"extensions": {"http": {"routePrefix": 1}}}, "extensions.http.routePrefix", "string"),
        ({"extensions": {"queues": {"batchSize": 64}}}, "extensions.queues.batchSize", "from 1 to 32"),
        (
            {"extensions": {"queues": {"maxPollingInterval": True}}},
            "extensions.queues.maxPollingInterval",
            "milliseconds",
        ),
        (
            {"extensions": {"queues": {"maxDequeueCount": 0}}},
            "extensions.queues.maxDequeueCount",
            "at least 1",
        ),
        (
            {"extensions": {"queues": {"messageEncoding": "utf8"}}},
            "extensions.queues.messageEncoding",
            '"base64"',
        ),
    ],
)
def test_ill_typed_host_values(tmp_path: Path, top: dict[str, Any], key: str, expected: str) -> None:
    path = write_host(tmp_path, **top)
    error = host_error(path)
    assert_names(error, path, key)
    assert expected in str(error)


@pytest.mark.parametrize("count", [0, 17, "x", 4.0])
def test_partition_count_range(tmp_path: Path, count: Any) -> None:
    path = write_host(tmp_path, {"storageProvider": {"partitionCount": count}})
    error = host_error(path)
    key = "extensions.durableTask.storageProvider.partitionCount"
    assert_names(error, path, key)
    assert str(error) == (
        f"{path}: {key}: expected an integer from 1 to 16, got {json.dumps(count)}. "
        "Fix: set it to a number between 1 and 16."
    )


@pytest.mark.parametrize("count", [1, 16])
def test_partition_count_bounds_accepted(tmp_path: Path, count: int) -> None:
    assert storage(tmp_path, {"partitionCount": count}).partition_count == count


def test_null_means_default(tmp_path: Path) -> None:
    sp = storage(tmp_path, {"partitionCount": None})
    assert sp.partition_count == 4


# -- file-level errors -----------------------------------------------------------------------------


def test_malformed_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_text('{\n  "version": "2.0",\n  "extensions": {,}\n}\n', encoding="utf-8")
    error = host_error(path)
    assert error.file == str(path)
    assert error.key is None
    assert str(error).startswith(f"{path}: invalid JSON at line 3, column 18")


def test_host_json_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_text("[]", encoding="utf-8")
    assert str(path) in str(host_error(path))


@pytest.mark.parametrize("version", ["1.0", "3.0", 2.0, 2])
def test_bad_version(tmp_path: Path, version: Any) -> None:
    path = write_host(tmp_path, version=version)
    error = host_error(path)
    assert_names(error, path, "version")
    assert "only the Functions 2.0 host.json schema" in str(error)


def test_missing_version(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_text("{}", encoding="utf-8")
    assert_names(host_error(path), path, "version")


def test_config_error_pickles_and_renders_without_key() -> None:
    error = ConfigError("f.json", None, "broken", None)
    assert str(error) == "f.json: broken."
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.file, copy.key, copy.message, copy.fix) == ("f.json", None, "broken", None)


# -- parse_timespan --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:05:00", 300.0),
        ("00:00:30", 30.0),
        ("01:02:03", 3723.0),
        ("1.02:00:00", 93600.0),
        ("00:00:00.5", 0.5),
        ("1.00:00:01.25", 86401.25),
        ("00:10", 600.0),
        ("-00:00:01", -1.0),
    ],
)
def test_parse_timespan(text: str, seconds: float) -> None:
    assert parse_timespan(text, file="host.json", key="k") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "abc", "24:00:00", "00:60:00", "00:00:60", "1:2:3:4", ""])
def test_parse_timespan_rejects(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_timespan(text, file="host.json", key="a.b")
    assert str(info.value).startswith("host.json: a.b: ")


# -- local.settings.json ---------------------------------------------------------------------------


def test_missing_local_settings_is_empty(tmp_path: Path) -> None:
    assert load_local_settings(tmp_path / "local.settings.json") == LocalSettings()


def test_local_settings_parsed(tmp_path: Path) -> None:
    path = write_local(
        tmp_path,
        {
            "IsEncrypted": False,
            "Values": {
                "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                "FUNCTIONS_WORKER_RUNTIME": "python",
                "Retries": 3,
                "Ratio": 0.5,
                "Enabled": True,
            },
            "Host": {"LocalHttpPort": 7072, "CORS": "*", "CORSCredentials": True},
            "ConnectionStrings": {"Sql": "Server=x"},
        },
    )
    local = load_local_settings(path)
    assert local.values == {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "Retries": "3",
        "Ratio": "0.5",
        "Enabled": "True",
    }
    assert local.connection_strings == {"Sql": "Server=x"}
    assert (local.local_http_port, local.cors, local.cors_credentials) == (7072, "*", True)
    assert local.is_encrypted is False


def test_is_encrypted_is_refused(tmp_path: Path) -> None:
    path = write_local(tmp_path, {"IsEncrypted": True, "Values": {"A": "xyz"}})
    with pytest.raises(ConfigError) as info:
        load_local_settings(path)
    assert_names(info.value, path, "IsEncrypted")
    assert "func settings decrypt" in str(info.value)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"Values": {"A": None}}, "Values.A"),
        ({"Values": {"A": {"nested": 1}}}, "Values.A"),
        ({"Values": ["A"]}, "Values"),
        ({"ConnectionStrings": {"Sql": 1}}, "ConnectionStrings.Sql"),
        ({"Host": {"LocalHttpPort": "7071"}}, "Host.LocalHttpPort"),
        ({"Host": {"LocalHttpPort": 70000}}, "Host.LocalHttpPort"),
        ({"Host": {"CORSCredentials": "true"}}, "Host.CORSCredentials"),
        ({"IsEncrypted": "false"}, "IsEncrypted"),
        ({"Value": {}}, "Value"),
    ],
)
def test_bad_local_settings(tmp_path: Path, body: dict[str, Any], key: str) -> None:
    path = write_local(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_local_settings(path)
    assert_names(info.value, path, key)


def test_malformed_local_settings(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text('{\n  "Values": {\n    "A": "b",\n  }\n}', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_local_settings(path)
    assert str(path) in str(info.value)
    assert "line 4" in str(info.value)


def test_values_do_not_override_environment(tmp_path: Path) -> None:
    local = LocalSettings(values={"A": "from-file", "B": "from-file"})
    environ = {"A": "from-env"}
    apply_values_to_environ(local, environ)
    assert environ == {"A": "from-env", "B": "from-file"}


# -- connection strings ----------------------------------------------------------------------------


def test_connection_string_lookup_order() -> None:
    local = LocalSettings(values={"V": "values"}, connection_strings={"C": "local-cs", "E": "local-cs"})
    environ = {"Env": "env", "ConnectionStrings:E": "env-cs", "Empty": ""}
    assert get_connection_string("Env", local, environ) == "env"
    assert get_connection_string("V", local, environ) == "values"
    assert get_connection_string("E", local, environ) == "env-cs"
    assert get_connection_string("C", local, environ) == "local-cs"
    assert get_connection_string("Empty", local, environ) == ""
    assert get_connection_string("Missing", local, environ) is None


def test_environment_wins_over_connection_strings() -> None:
    local = LocalSettings(connection_strings={"S": "local"})
    assert get_connection_string("S", local, {"S": "env"}) == "env"
    assert get_connection_string("S", local, {"ConnectionStrings__S": "env-cs"}) == "env-cs"


def test_host_settings_default_constructible() -> None:
    assert HostSettings().durable_task.hub_name == "TestHubName"
