"""Client operations on a task hub (what `durableClient` and the HTTP API do), above the store."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from .app.loader import LoadedApp
from .clock import Clock
from .dispatch.completions import CompletionNotices
from .engine.entities import EntityId, EntityState, request_message
from .engine.history import EventType, HistoryEvent, format_timestamp
from .engine.messages import TaskMessage
from .engine.status import InstanceState, RuntimeStatus
from .engine.tracecontext import TRACE_CONTEXT_KEY, orchestration_trace_context
from .store.base import InstanceCheck, InstanceExistsError, InstancePage, InstanceQuery, TaskHubStore

# Applies a message at once in one commit with the episode it wakes; False when it cannot (busy
# instance, a store without the fast path): the caller then sends it as usual.
InlineDelivery = Callable[[TaskMessage, InstanceCheck], Awaitable[bool]]


class ClientError(Exception):
    """A client request that cannot be served; `status` is the HTTP status the API answers with."""

    status = 400


class InstanceNotFoundError(ClientError):
    status = 404

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"No instance with ID '{instance_id}' found.")


class InstanceNotRunningError(ClientError):
    status = 410

    def __init__(self, instance_id: str, runtime_status: RuntimeStatus, action: str) -> None:
        super().__init__(
            f"Cannot {action} instance '{instance_id}': it is {runtime_status.value}, not running."
        )


class InstanceConflictError(ClientError):
    """Starting an id that is still running (the SDK raises the message of a 400)."""


class InvalidOperationError(ClientError):
    status = 500


def validate_instance_id(instance_id: str) -> None:
    """The Durable Functions client's rules for instance ids."""
    if not instance_id:
        raise ClientError("Instance ID must not be empty.")
    if len(instance_id) > 256:
        raise ClientError(f"Instance ID '{instance_id[:40]}...' is longer than 256 characters.")
    if instance_id.startswith("@"):
        raise ClientError(f"Instance ID '{instance_id}' must not start with '@' (reserved for entities).")
    bad = [c for c in instance_id if c in "/\\#?" or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F]
    if bad:
        raise ClientError(
            f"Instance ID '{instance_id}' contains the character {bad[0]!r}, which is not allowed."
        )


class DurableClientService:
    def __init__(
        self,
        store: TaskHubStore,
        app: LoadedApp,
        clock: Clock,
        *,
        overwrite_any_state: bool = False,
        check_names: bool = True,
        tracing: bool = False,
    ) -> None:
        """`check_names`: refuse orchestrator names this app does not have (off for other hubs)."""
        self.store = store
        self.check_names = check_names
        self.tracing = tracing
        self.app = app
        self.clock = clock
        self.overwrite_any_state = overwrite_any_state
        self.deliver_inline: InlineDelivery | None = None  # set by the host while its dispatchers run
        self.notices = CompletionNotices()  # the host's dispatcher reports the instances it ends here

    def _now(self) -> datetime:
        return self.clock.now()

    async def start_new(
        self, name: str, instance_id: str | None, input_text: str | None, trace_parent: str | None = None
    ) -> str:
        """Start orchestrator `name`; `input_text` is the serialized input (JSON text) or None."""
        spec = self.app.orchestrator(name)
        durable_name = spec.durable_name if spec is not None else name
        if spec is None and self.check_names:
            raise ClientError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Known orchestrators: {self.app.known_names('orchestrationTrigger')}."
            )
        instance_id = instance_id or uuid.uuid4().hex
        validate_instance_id(instance_id)
        now = self._now()
        execution_id = uuid.uuid4().hex
        start = HistoryEvent(
            EventType.EXECUTION_STARTED,
            timestamp=format_timestamp(now),
            name=durable_name,
            version="",
            input=input_text,
            instance_id=instance_id,
            execution_id=execution_id,
            generation=0,
            extras={TRACE_CONTEXT_KEY: orchestration_trace_context(trace_parent)} if self.tracing else {},
        )
        row = InstanceState(
            instance_id=instance_id,
            name=durable_name,
            execution_id=execution_id,
            runtime_status=RuntimeStatus.PENDING,
            created_time=now,
            last_updated_time=now,
            input=input_text,
        )
        try:
            await self.store.start_orchestration(
                row,
                TaskMessage(instance_id, start, execution_id=execution_id),
                overwrite_running=self.overwrite_any_state,
            )
        except InstanceExistsError as exc:
            raise InstanceConflictError(str(exc)) from exc
        return instance_id

    async def wait_for_terminal(
        self, instance_id: str, timeout: float, interval: float
    ) -> InstanceState | None:
        """Poll until the instance is Completed, Failed, Terminated or Canceled; None on timeout.

        Between polls it wakes at once when this host's dispatcher ends the instance (`notices`)."""
        deadline = asyncio.get_running_loop().time() + timeout
        with self.notices.watching(instance_id) as ended:
            while True:
                state = await self.store.get_instance(instance_id)
                if state is not None and state.runtime_status.is_terminal:
                    return state
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return None
                await ended.wait(min(interval, remaining))

    async def get_instance(self, instance_id: str) -> InstanceState | None:
        return await self.store.get_instance(instance_id)

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        return await self.store.get_history(instance_id)

    async def list_instances(self, query: InstanceQuery) -> InstancePage:
        return await self.store.query_instances(query)

    async def _require(
        self, instance_id: str, action: str, allowed: frozenset[RuntimeStatus]
    ) -> InstanceState:
        state = await self.store.get_instance(instance_id)
        _check_status(instance_id, action, allowed, state)
        assert state is not None
        return state

    async def _send(self, instance_id: str, event: HistoryEvent, execution_id: str | None = None) -> None:
        await self.store.send_messages([TaskMessage(instance_id, event, execution_id=execution_id)])

    async def _send_to_active(self, instance_id: str, action: str, event: HistoryEvent) -> None:
        """Send `event` to a running instance; 404 / 410 otherwise. On this host's own embedded hub the
        message and the episode it wakes share one commit when the instance is idle (fewer writes, and
        a raise returns once its event is in the history)."""
        message = TaskMessage(instance_id, event)
        if self.deliver_inline is not None:
            check = functools.partial(_check_status, instance_id, action, _ACTIVE)
            if await self.deliver_inline(message, check):
                return
        await self._require(instance_id, action, _ACTIVE)
        await self.store.send_messages([message])

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        now = format_timestamp(self._now())
        event = HistoryEvent(EventType.EXECUTION_TERMINATED, timestamp=now, input=reason)
        await self._send_to_active(instance_id, "terminate", event)

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        now = format_timestamp(self._now())
        event = HistoryEvent(EventType.EXECUTION_SUSPENDED, timestamp=now, reason=reason)
        await self._send_to_active(instance_id, "suspend", event)

    async def resume(self, instance_id: str, reason: str | None) -> None:
        now = format_timestamp(self._now())
        event = HistoryEvent(EventType.EXECUTION_RESUMED, timestamp=now, reason=reason)
        await self._send_to_active(instance_id, "resume", event)

    async def raise_event(self, instance_id: str, event_name: str, data_text: str | None) -> None:
        """`data_text` is the event payload as compact JSON text, stored as EventRaised.Input."""
        now = format_timestamp(self._now())
        event = HistoryEvent(EventType.EVENT_RAISED, timestamp=now, name=event_name, input=data_text)
        await self._send_to_active(instance_id, "raise an event to", event)

    async def rewind(self, instance_id: str, reason: str | None) -> None:
        state = await self.store.get_instance(instance_id)
        if state is None:
            raise InstanceNotFoundError(instance_id)
        if state.runtime_status in (
            RuntimeStatus.COMPLETED,
            RuntimeStatus.TERMINATED,
            RuntimeStatus.CANCELED,
        ):
            raise InstanceNotRunningError(instance_id, state.runtime_status, "rewind")
        if state.runtime_status != RuntimeStatus.FAILED:
            raise InvalidOperationError(
                f"Cannot rewind instance '{instance_id}': it is {state.runtime_status.value}; only Failed "
                "instances can be rewound."
            )
        now = format_timestamp(self._now())
        await self._send(instance_id, HistoryEvent(EventType.EXECUTION_REWOUND, timestamp=now, reason=reason))

    async def restart(self, instance_id: str, *, new_instance_id: bool) -> str:
        """Start the instance's orchestrator again with its original input; returns the id used."""
        state = await self.store.get_instance(instance_id)
        if state is None:
            raise ClientError("InstanceId does not match a valid orchestration instance.")
        return await self.start_new(state.name, None if new_instance_id else instance_id, state.input)

    async def signal_entity(
        self, entity: EntityId, operation: str, input_text: str | None, scheduled_time: datetime | None = None
    ) -> None:
        """One-way operation on an entity; `input_text` is RequestMessage.input (JSON text) or None."""
        if not operation:
            raise ClientError("An entity operation name is required (query parameter 'op').")
        now = self._now()
        name = operation
        request = request_message(operation, input_text, signal=True)
        if scheduled_time is not None and scheduled_time > now:
            name = f"{operation}@{format_timestamp(scheduled_time)}"
            request["due"] = format_timestamp(scheduled_time)
        event = HistoryEvent(
            EventType.EVENT_RAISED, timestamp=format_timestamp(now), name=name, input=json.dumps(request)
        )
        visible_at = scheduled_time if scheduled_time is not None and scheduled_time > now else None
        await self.store.send_messages([TaskMessage(entity.instance_id, event, visible_at=visible_at)])

    async def read_entity(self, entity: EntityId) -> EntityState | None:
        """The entity's scheduler state, or None when it does not exist."""
        state = await self.store.get_instance(entity.instance_id)
        scheduler = EntityState.from_json(state.input if state else None)
        return scheduler if scheduler.exists else None

    async def list_entities(
        self, query: InstanceQuery
    ) -> tuple[list[tuple[InstanceState, EntityState]], str | None]:
        page = await self.store.query_instances(replace(query, entities=True))
        found = [(s, EntityState.from_json(s.input)) for s in page.instances]
        return [(s, e) for s, e in found if e.exists], page.continuation_token

    async def clean_entity_storage(self) -> int:
        """Purge entities that were deleted (no state, nothing queued). Returns how many were removed."""
        removed = 0
        token: str | None = None
        while True:
            page = await self.store.query_instances(
                InstanceQuery(entities=True, page_size=500, continuation_token=token)
            )
            for state in page.instances:
                if not EntityState.from_json(state.input).exists and '"queueSize": 0' in (
                    state.custom_status or ""
                ):
                    removed += await self.store.purge_instance(state.instance_id)
            token = page.continuation_token
            if not token:
                return removed

    async def purge(self, instance_id: str) -> int:
        return await self.store.purge_instance(instance_id)

    async def purge_by(
        self, created_from: datetime, created_to: datetime | None, statuses: frozenset[RuntimeStatus]
    ) -> int:
        return await self.store.purge_instances(created_from, created_to or self._now(), statuses)


_ACTIVE = frozenset(
    {RuntimeStatus.RUNNING, RuntimeStatus.PENDING, RuntimeStatus.SUSPENDED, RuntimeStatus.CONTINUED_AS_NEW}
)


def _check_status(
    instance_id: str, action: str, allowed: frozenset[RuntimeStatus], state: InstanceState | None
) -> None:
    if state is None:
        raise InstanceNotFoundError(instance_id)
    if state.runtime_status not in allowed:
        raise InstanceNotRunningError(instance_id, state.runtime_status, action)


__all__ = ["DurableClientService", "ClientError", "InstanceNotFoundError", "InstanceNotRunningError"]
