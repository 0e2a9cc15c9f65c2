"""Large payloads in `{hublc}-largemessages`: gzip-compressed UTF-8 blobs, and the size rules that send
a queue message or a table property there."""

from __future__ import annotations

import contextlib
import gzip
import random
from urllib.parse import quote, unquote, urlparse

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

# A queue message body larger than this (UTF-8) goes to a blob: Base64 by older readers stays < 64 KiB.
MAX_QUEUE_MESSAGE_BYTES = 45 * 1024
# A table string property larger than this (UTF-16, as .NET counts it) goes to a blob.
MAX_TABLE_PROPERTY_BYTES = 60 * 1024
# History/Instances properties DT.AS may move to blobs.
BLOB_PROPERTIES = (
    "Name",
    "Input",
    "Result",
    "Output",
    "Reason",
    "Details",
    "Correlation",
    "FailureDetails",
    "Tags",
)
BLOB_NAME_SUFFIX = "BlobName"


def exceeds_queue_limit(text: str) -> bool:
    return len(text) > MAX_QUEUE_MESSAGE_BYTES // 4 and len(text.encode("utf-8")) > MAX_QUEUE_MESSAGE_BYTES


def exceeds_table_limit(text: str) -> bool:
    return (
        len(text) > MAX_TABLE_PROPERTY_BYTES // 4 and len(text.encode("utf-16-le")) > MAX_TABLE_PROPERTY_BYTES
    )


def history_blob_name(partition_key: str, row_key: str, event_type: str, prop: str) -> str:
    """`{PartitionKey}/history-{RowKey}-{EventType}-{random X8}-{Property}.json.gz` (RowKey is empty
    for Instances-row properties, whose "event type" is the property name)."""
    return f"{partition_key}/history-{row_key}-{event_type}-{random.getrandbits(32):08X}-{prop}.json.gz"


def message_blob_name(instance_id: str, activity_id: str, event_type: str) -> str:
    """`{instanceId}/message-{ActivityId:N}-{EventType}.json.gz` (the raw, unescaped instance id)."""
    return f"{instance_id}/message-{activity_id.replace('-', '').lower()}-{event_type}.json.gz"


def compress(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"))


def decompress(data: bytes) -> str:
    return gzip.decompress(data).decode("utf-8")


class LargeMessageStore:
    def __init__(self, service: BlobServiceClient, container: str) -> None:
        self.container: ContainerClient = service.get_container_client(container)
        self._created = False

    @property
    def container_url(self) -> str:
        return self.container.url.rstrip("/")

    def url(self, blob_name: str) -> str:
        """The absolute URL Instances rows hold in place of a large Input/Output."""
        return f"{self.container_url}/{quote(blob_name, safe='/')}"

    def blob_name_from_url(self, text: str | None) -> str | None:
        """The blob name when `text` is an absolute URL into this hub's container, else None."""
        if not text or not text.startswith(("http://", "https://")) or " " in text:
            return None
        parsed = urlparse(text)
        marker = f"/{self.container.container_name}/"
        path = parsed.path
        if not parsed.netloc or marker not in path:
            return None
        return unquote(path.split(marker, 1)[1])

    async def _ensure_container(self) -> None:
        if self._created:
            return
        with contextlib.suppress(ResourceExistsError):
            await self.container.create_container()
        self._created = True

    async def upload(self, blob_name: str, text: str) -> None:
        await self._ensure_container()
        await self.container.upload_blob(blob_name, compress(text), overwrite=True)

    async def download(self, blob_name: str) -> str:
        stream = await self.container.download_blob(blob_name)
        return decompress(await stream.readall())

    async def delete(self, blob_name: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            await self.container.delete_blob(blob_name)

    async def delete_instance_blobs(self, instance_id: str, partition_key: str) -> int:
        """Every blob of one instance: its history blobs and the message blobs under its raw id."""
        deleted = 0
        prefixes = {f"{partition_key}/history-", f"{instance_id}/message-"}
        try:
            for prefix in prefixes:
                async for blob in self.container.list_blobs(name_starts_with=prefix):
                    if "/" in blob.name[len(prefix) :]:
                        continue  # another instance whose id extends this one past a '/'
                    await self.delete(blob.name)
                    deleted += 1
        except ResourceNotFoundError:  # no container: nothing was ever large
            return deleted
        return deleted

    async def delete_container(self) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            await self.container.delete_container()
        self._created = False
