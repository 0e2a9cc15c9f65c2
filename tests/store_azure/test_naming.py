"""Names, keys and partitioning of an Azure Storage task hub (no Azurite needed)."""

from __future__ import annotations

import pytest

from durable_ext.config import StorageProviderSettings
from durable_ext.store.azure import AzureStorageTaskHubStore, HubNameError
from durable_ext.store.azure.account import (
    DEV_ACCOUNT_KEY,
    ConnectionStringError,
    normalize_connection_string,
    parse_connection_string,
)
from durable_ext.store.azure.naming import (
    HubNames,
    escape_key,
    fnv1a_32,
    partition_index,
    row_key,
    unescape_key,
    validate_hub_name,
)

# (input, FNV-1a 32, mod 4, mod 16): the reference's vectors.
FNV_VECTORS = [
    ("", 0x811C9DC5, 1, 5),
    ("a", 0xE40C292C, 0, 12),
    ("test", 0xAFD071E5, 1, 5),
    ("@counter@mykey", 0xCC6A5E00, 0, 0),
    ("über", 0x7BA3E4CF, 3, 15),
]


@pytest.mark.parametrize(("text", "hash_value", "mod4", "mod16"), FNV_VECTORS)
def test_fnv1a_vectors_pick_the_control_queue(text: str, hash_value: int, mod4: int, mod16: int) -> None:
    assert fnv1a_32(text.encode("utf-8")) == hash_value
    assert partition_index(text, 4) == mod4
    assert partition_index(text, 16) == mod16


def test_the_hash_is_case_sensitive_and_over_the_raw_id() -> None:
    assert fnv1a_32(b"Order-1") != fnv1a_32(b"order-1")
    assert partition_index("a/b", 16) == fnv1a_32(b"a/b") % 16  # not the escaped key "a^0b"


def test_resource_names_of_a_hub() -> None:
    names = HubNames("xyzHub")
    assert names.history_table == "xyzHubHistory"
    assert names.instances_table == "xyzHubInstances"
    assert names.partitions_table == "xyzHubPartitions"
    assert names.work_item_queue == "xyzhub-workitems"
    assert names.large_message_container == "xyzhub-largemessages"
    assert names.control_queues(4) == [f"xyzhub-control-0{i}" for i in range(4)]
    assert names.control_queue(15) == "xyzhub-control-15"


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("order-1", "order-1"),
        ("a^b", "a^^b"),
        ("a/b\\c#d?e", "a^0b^1c^2d^3e"),
        ("tab\there", "tab^\u00c9here"),
        ("del\x7f", "del^\u013f"),
        ("c1\x9f", "c1^\u015f"),
        ("zoë/订单-1", "zoë^0订单-1"),
        ("@counter@key", "@counter@key"),
    ],
)
def test_partition_keys_escape_what_table_keys_forbid(raw: str, escaped: str) -> None:
    assert escape_key(raw) == escaped
    assert unescape_key(escaped) == raw


def test_history_row_keys_are_x16_hex() -> None:
    assert row_key(0) == "0000000000000000"
    assert row_key(10) == "000000000000000A"
    assert row_key(255) == "00000000000000FF"
    assert sorted(row_key(i) for i in (2, 10, 1, 16)) == [row_key(i) for i in (1, 2, 10, 16)]


@pytest.mark.parametrize("name", ["TestHubName", "abc", "MyHub2", "a" * 50])
def test_valid_hub_names(name: str) -> None:
    assert validate_hub_name(name) == name


@pytest.mark.parametrize("name", ["ab", "1hub", "my-hub", "my_hub", "hub name", "a" * 51, ""])
def test_invalid_hub_names_are_refused_with_the_fix(name: str) -> None:
    with pytest.raises(HubNameError, match="hubName"):
        validate_hub_name(name)


def test_the_store_refuses_a_bad_hub_name_before_connecting() -> None:
    with pytest.raises(HubNameError, match="'my-hub'"):
        AzureStorageTaskHubStore(
            "UseDevelopmentStorage=true", hub_name="my-hub", settings=StorageProviderSettings()
        )


def test_the_store_refuses_a_partition_count_outside_1_to_16() -> None:
    with pytest.raises(ValueError, match="partitionCount"):
        AzureStorageTaskHubStore(
            "UseDevelopmentStorage=true",
            hub_name="GoodHub",
            settings=StorageProviderSettings(partition_count=17),
        )


def test_development_storage_maps_to_the_azurite_account() -> None:
    pairs = parse_connection_string(normalize_connection_string("UseDevelopmentStorage=true"))
    assert pairs["accountname"] == "devstoreaccount1"
    assert pairs["accountkey"] == DEV_ACCOUNT_KEY
    assert pairs["blobendpoint"] == "http://127.0.0.1:10000/devstoreaccount1"
    assert pairs["queueendpoint"] == "http://127.0.0.1:10001/devstoreaccount1"
    assert pairs["tableendpoint"] == "http://127.0.0.1:10002/devstoreaccount1"


def test_development_storage_builds_clients_on_the_emulator_endpoints() -> None:
    store = AzureStorageTaskHubStore(
        "UseDevelopmentStorage=true", hub_name="DevHub", settings=StorageProviderSettings()
    )
    assert store.blobs.url("abc/history-x.json.gz") == (
        "http://127.0.0.1:10000/devstoreaccount1/devhub-largemessages/abc/history-x.json.gz"
    )


def test_blob_urls_escape_like_dtas() -> None:
    store = AzureStorageTaskHubStore(
        "UseDevelopmentStorage=true", hub_name="DevHub", settings=StorageProviderSettings()
    )
    url = store.blobs.url("@#$%!")
    assert url.endswith("/devhub-largemessages/%40%23%24%25%21")
    assert store.blobs.blob_name_from_url(url) == "@#$%!"
    assert store.blobs.blob_name_from_url("https://example.com/other/x") is None
    assert store.blobs.blob_name_from_url('"just text"') is None


@pytest.mark.parametrize("text", ["AccountName", "no pairs here"])
def test_malformed_connection_strings_say_what_is_expected(text: str) -> None:
    with pytest.raises(ConnectionStringError, match="Key=Value|names no account"):
        normalize_connection_string(text)
