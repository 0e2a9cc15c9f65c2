"""App queues (`queueTrigger` / `queue` bindings) on a real storage account's queues, Azurite included:
the same `AppQueues` interface as the embedded ones, so the host runs both through one code path."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timezone

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from .app_queues import AppQueueMessage, check_queue_name
from .azure.account import normalize_connection_string
from .azure.http_environment import environment_configures_http
from .base import WorkSignal


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(timezone.utc)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class AzureAppQueues:
    def __init__(self, connection_string: str, *, base64: bool = True) -> None:
        """`base64`: host.json `extensions.queues.messageEncoding` (Azure Functions' default is base64)."""
        self._service = QueueServiceClient.from_connection_string(
            normalize_connection_string(connection_string), use_env_settings=environment_configures_http()
        )
        self._base64 = base64
        self._clients: dict[str, QueueClient] = {}
        self._created: set[str] = set()
        self._signals: dict[str, WorkSignal] = {}
        self._lock = asyncio.Lock()

    def signal(self, queue: str) -> WorkSignal:
        return self._signals.setdefault(queue, WorkSignal())

    async def _client(self, queue: str) -> QueueClient:
        check_queue_name(queue)
        client = self._clients.get(queue)
        if client is None:
            policies = (
                {
                    "message_encode_policy": BinaryBase64EncodePolicy(),
                    "message_decode_policy": BinaryBase64DecodePolicy(),
                }
                if self._base64
                else {}
            )
            client = self._service.get_queue_client(queue, **policies)
            self._clients[queue] = client
        if queue not in self._created:
            async with self._lock:
                if queue not in self._created:
                    with contextlib.suppress(ResourceExistsError):
                        await client.create_queue()
                    self._created.add(queue)
        return client

    async def put(self, queue: str, body: str, *, delay_seconds: float = 0.0) -> str:
        client = await self._client(queue)
        content: str | bytes = body.encode("utf-8") if self._base64 else body
        sent = await client.send_message(content, visibility_timeout=int(delay_seconds) or None)
        self.signal(queue).notify()
        return str(sent.id)

    async def get(self, queue: str, *, visibility_timeout: float) -> AppQueueMessage | None:
        client = await self._client(queue)
        message = await client.receive_message(visibility_timeout=max(1, int(visibility_timeout)))
        if message is None:
            return None
        content = message.content
        body = content.decode("utf-8") if isinstance(content, bytes) else str(content)
        return AppQueueMessage(
            queue=queue,
            id=str(message.id),
            body=body,
            dequeue_count=int(message.dequeue_count or 1),
            insertion_time=_utc(message.inserted_on),
            expiration_time=_utc(message.expires_on),
            next_visible_time=_utc(message.next_visible_on),
            pop_receipt=str(message.pop_receipt),
        )

    async def delete(self, message: AppQueueMessage) -> None:
        client = await self._client(message.queue)
        with contextlib.suppress(ResourceNotFoundError):  # already gone: another copy was handled
            await client.delete_message(message.id, message.pop_receipt)

    async def release(self, message: AppQueueMessage, *, delay_seconds: float) -> None:
        client = await self._client(message.queue)
        with contextlib.suppress(ResourceNotFoundError):
            await client.update_message(
                message.id, message.pop_receipt, visibility_timeout=int(delay_seconds)
            )
        self.signal(message.queue).notify()

    async def peek(self, queue: str, limit: int = 32) -> list[AppQueueMessage]:
        client = await self._client(queue)
        peeked = await client.peek_messages(max_messages=min(limit, 32))
        return [
            AppQueueMessage(
                queue,
                str(m.id),
                m.content.decode("utf-8") if isinstance(m.content, bytes) else str(m.content),
                int(m.dequeue_count or 0),
                _utc(m.inserted_on),
                _utc(m.expires_on),
                _utc(None),
                "",
            )
            for m in peeked
        ]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        await self._service.close()
