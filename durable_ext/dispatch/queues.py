"""`queueTrigger` functions and `queue` output bindings, on the storage account's queues.

Each queue-triggered function polls its queue (woken at once by messages this host puts); a message
whose function keeps failing moves to `<queue>-poison` after `maxDequeueCount` tries, as Azure
Functions does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor

from azure.functions.meta import Datum

from ..app.datums import queue_message_datum
from ..app.spec import FunctionSpec, InvocationRequest, InvocationResult, Invoker
from ..config import QueuesSettings
from ..store.app_queues import AppQueueMessage, AppQueues

log = logging.getLogger("durable_ext.queues")
ExtraInputs = Callable[[FunctionSpec], Mapping[str, Datum]]


def queue_messages_of(datum: Datum) -> list[str]:
    """The messages a `queue` output Datum carries: one text, or a JSON list of texts / {id, body}."""
    if datum.type == "string":
        return [str(datum.value)]
    if datum.type == "bytes":
        return [bytes(datum.value).decode("utf-8")]
    if datum.type == "json":
        value = json.loads(datum.value)
        items = value if isinstance(value, list) else [value]
        return [item["body"] if isinstance(item, dict) else str(item) for item in items]
    raise ValueError(f"a queue output of type {datum.type!r} cannot be sent")


class QueueOutputInvoker:
    """Sends what a function wrote to its `queue` output bindings once it has succeeded."""

    def __init__(self, inner: Invoker, queues: AppQueues) -> None:
        self.inner = inner
        self.queues = queues

    async def invoke(
        self, request: InvocationRequest, *, executor: Executor | None = None
    ) -> InvocationResult:
        result = await self.inner.invoke(request, executor=executor)
        if not result.ok:
            return result
        for binding in request.function.bindings:
            if binding.type.lower() != "queue" or binding.direction != "out":
                continue
            datum = result.return_value if binding.name == "$return" else result.outputs.get(binding.name)
            if datum is None:
                continue
            queue = str(binding.get("queueName"))
            for body in queue_messages_of(datum):
                await self.queues.put(queue, body)
        return result


class QueueTriggerLoop:
    def __init__(
        self,
        function: FunctionSpec,
        queues: AppQueues,
        invoker: Invoker,
        settings: QueuesSettings,
        extra_inputs: ExtraInputs,
    ) -> None:
        self.function = function
        self.queue = str(function.trigger.get("queueName"))
        self.queues = queues
        self.invoker = invoker
        self.settings = settings
        self.extra_inputs = extra_inputs
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, settings.batch_size))
        self._tasks: set[asyncio.Task[None]] = set()
        self._found_nothing = False

    @property
    def idle(self) -> bool:
        return self._found_nothing and not self._tasks

    def wake(self) -> None:
        self._found_nothing = False
        self.queues.signal(self.queue).notify()

    async def run(self) -> None:
        idle = 0.1
        signal = self.queues.signal(self.queue)
        while not self._stopping.is_set():
            await self._slots.acquire()
            try:
                message = await self.queues.get(self.queue, visibility_timeout=600.0)
            except Exception:
                self._slots.release()
                log.exception("Reading queue '%s' failed; retrying", self.queue)
                await asyncio.sleep(1.0)
                continue
            if message is None:
                self._slots.release()
                self._found_nothing = True
                await signal.wait(idle)
                self._found_nothing = False
                idle = min(idle * 2, self.settings.max_polling_interval)  # back off while the queue is empty
                continue
            idle = 0.1
            self._found_nothing = False
            task = asyncio.create_task(self._handle(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, message: AppQueueMessage) -> None:
        try:
            datum, metadata = queue_message_datum(
                message.body,
                id=message.id,
                dequeue_count=message.dequeue_count,
                insertion_time=message.insertion_time,
                expiration_time=message.expiration_time,
                next_visible_time=message.next_visible_time,
                pop_receipt=message.pop_receipt,
            )
            inputs = {self.function.trigger.name: datum, **self.extra_inputs(self.function)}
            request = InvocationRequest(self.function, inputs, str(uuid.uuid4()), trigger_metadata=metadata)
            result = await self.invoker.invoke(request)
            if result.ok:
                await self.queues.delete(message)
            elif message.dequeue_count >= self.settings.max_dequeue_count:
                poison = f"{self.queue}-poison"
                await self.queues.put(poison, message.body)
                await self.queues.delete(message)
                log.warning(
                    "Message %s failed %d times in '%s': moved to '%s'",
                    message.id,
                    message.dequeue_count,
                    self.function.name,
                    poison,
                )
            else:
                await self.queues.release(message, delay_seconds=self.settings.visibility_timeout)
        finally:
            self._slots.release()

    def stop(self) -> None:
        self._stopping.set()
        self.queues.signal(self.queue).notify()

    async def close(self) -> None:
        self.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
