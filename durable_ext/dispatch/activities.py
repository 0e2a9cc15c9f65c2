"""The activity dispatcher: runs TaskScheduled work items on the pool, at most
`maxConcurrentActivityFunctions` at a time, and reports TaskCompleted / TaskFailed to the orchestration."""

from __future__ import annotations

import json
import logging
import traceback
from collections import deque
from collections.abc import Awaitable, Callable

import aiohttp
from azure.functions.meta import Datum

from ..app.loader import LoadedApp
from ..app.spec import InvocationRequest, Invoker, new_invocation_id
from ..clock import Clock
from ..engine.history import EventType, HistoryEvent, format_timestamp
from ..engine.messages import TaskMessage
from ..engine.replay import HTTP_ACTIVITY_NAME
from ..engine.tracecontext import TRACE_CONTEXT_KEY
from ..store.base import ActivityWorkItem, BatchActivityLocking, TaskHubStore
from ..telemetry import Telemetry
from .http_activity import DurableHttpError, parse_request, run_durable_http
from .loop import WorkLoop
from .stats import DispatchStats

log = logging.getLogger("durable_ext.dispatch")


def activity_input_text(stored_input: str | None) -> str:
    """Work items hold a one-element JSON array; the worker gets element 0 as text (sdk-protocol §4)."""
    values = json.loads(stored_input) if stored_input else []
    first = values[0] if isinstance(values, list) and values else None
    return first if isinstance(first, str) else json.dumps(first)


class ActivityDispatcher(WorkLoop[ActivityWorkItem]):
    def __init__(
        self,
        store: TaskHubStore,
        app: LoadedApp,
        invoker: Invoker,
        clock: Clock,
        *,
        max_concurrent: int,
        poll_interval: float,
        http_poll_seconds: float = 30.0,
        deliver_inline: Callable[[ActivityWorkItem, TaskMessage], Awaitable[bool]] | None = None,
        stats: DispatchStats | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__("activities", store.work_signal, store, clock, max_concurrent, poll_interval)
        self.app = app
        self.invoker = invoker
        self.http_poll_seconds = http_poll_seconds
        self.deliver_inline = deliver_inline
        self.stats = stats or DispatchStats()
        self.telemetry = telemetry or Telemetry()
        self._http: aiohttp.ClientSession | None = None
        self._prefetched: deque[ActivityWorkItem] = deque()
        # Checked once: isinstance against a protocol is slow enough to show on every lock.
        self._batch_store = store if isinstance(store, BatchActivityLocking) else None

    async def lock_next(self) -> ActivityWorkItem | None:
        if self._prefetched:
            return self._prefetched.popleft()
        if self._batch_store is None:
            return await self.store.lock_next_activity()
        # One store call locks as many as may run at once: under a fan-out, a lock per call would
        # make the store's thread the bottleneck. What does not run yet waits here, locked.
        items = await self._batch_store.lock_next_activities(self.max_concurrent)
        if not items:
            return None
        self._prefetched.extend(items[1:])
        return items[0]

    async def process(self, item: ActivityWorkItem) -> None:
        try:
            outcome = await self._execute(item)
        except Exception:
            log.exception("Activity work item for '%s' could not run; retrying later", item.instance_id)
            await self.store.abandon_activity(item, delay_seconds=10.0)
            return
        response = TaskMessage(item.instance_id, outcome, execution_id=item.execution_id)
        self.stats.activities += 1
        if self.deliver_inline is not None and await self.deliver_inline(item, response):
            return
        await self.store.complete_activity(item, response)

    async def _durable_http(self, scheduled: HistoryEvent) -> HistoryEvent:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=30))
        try:
            request = parse_request(activity_input_text(scheduled.input))
            response = await run_durable_http(request, self._http, poll_seconds=self.http_poll_seconds)
        except (DurableHttpError, aiohttp.ClientError, OSError) as exc:
            return HistoryEvent(
                EventType.TASK_FAILED,
                timestamp=format_timestamp(self.clock.now()),
                task_scheduled_id=scheduled.event_id,
                reason=f"Durable HTTP request failed: {type(exc).__name__}: {exc}",
                details="",
            )
        return HistoryEvent(
            EventType.TASK_COMPLETED,
            timestamp=format_timestamp(self.clock.now()),
            task_scheduled_id=scheduled.event_id,
            result=json.dumps(response),
        )

    async def close(self) -> None:
        await super().close()
        while self._prefetched:  # locked but never started: back to the queue for the next run
            await self.store.abandon_activity(self._prefetched.popleft(), delay_seconds=0.0)
        if self._http is not None:
            await self._http.close()

    async def _execute(self, item: ActivityWorkItem) -> HistoryEvent:
        scheduled = item.event
        name = scheduled.name or ""
        now = format_timestamp(self.clock.now())
        if name == HTTP_ACTIVITY_NAME:
            return await self._durable_http(scheduled)
        spec = self.app.activity(name)
        if spec is None:
            return HistoryEvent(
                EventType.TASK_FAILED,
                timestamp=now,
                task_scheduled_id=scheduled.event_id,
                reason=f"The activity function '{name}' does not exist in this app (known activities: "
                f"{self.app.known_names('activityTrigger')}).",
                details="",
            )
        request = InvocationRequest(
            function=spec,
            inputs={spec.trigger.name: Datum(activity_input_text(scheduled.input), "string")},
            invocation_id=new_invocation_id(),
        )
        trace = scheduled.extras.get(TRACE_CONTEXT_KEY) or {}
        attributes = {"durabletask.type": "activity", "durabletask.instance_id": item.instance_id}
        with self.telemetry.span(f"activity:{spec.durable_name}", trace.get("TraceParent"), attributes):
            result = await self.invoker.invoke(request)
        now = format_timestamp(self.clock.now())
        if result.error is None:
            value = result.return_value.value if result.return_value is not None else None
            return HistoryEvent(
                EventType.TASK_COMPLETED,
                timestamp=now,
                task_scheduled_id=scheduled.event_id,
                result=value if isinstance(value, str) or value is None else json.dumps(value),
            )
        error = result.error
        return HistoryEvent(
            EventType.TASK_FAILED,
            timestamp=now,
            task_scheduled_id=scheduled.event_id,
            reason=f"Activity function '{spec.durable_name}' failed: {type(error).__name__}: {error}",
            details="".join(traceback.format_exception(error)).strip(),
        )
