"""The orchestration dispatcher: locks instances with new messages and runs one episode each.

Orchestrator code runs on one thread per host (the documented single-threaded rule); episodes of
different instances overlap only while they wait on storage, bounded by
`maxConcurrentOrchestratorFunctions`.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from azure.functions.meta import Datum

from ..app.invoker import InlineExecutor
from ..app.loader import LoadedApp
from ..app.spec import FunctionSpec, InvocationRequest, InvocationResult, Invoker, new_invocation_id
from ..clock import Clock
from ..engine.entities import EntityEpisode, is_entity_id
from ..engine.history import EventType, parse_timestamp
from ..engine.messages import TaskMessage
from ..engine.orchestration import EpisodeCommit, EpisodeOptions, OrchestrationEpisode
from ..engine.tracecontext import TRACE_CONTEXT_KEY
from ..store.base import (
    ActivityWorkItem,
    InlineMessageDelivery,
    InstanceCheck,
    OrchestrationWorkItem,
    TaskHubStore,
)
from ..telemetry import Telemetry
from .completions import CompletionNotices
from .extended_sessions import ExtendedSessions
from .loop import WorkLoop
from .stats import DispatchStats

log = logging.getLogger("durable_ext.dispatch")


class OrchestrationDispatcher(WorkLoop[OrchestrationWorkItem]):
    def __init__(
        self,
        store: TaskHubStore,
        app: LoadedApp,
        invoker: Invoker,
        clock: Clock,
        *,
        max_concurrent: int,
        options: EpisodeOptions,
        poll_interval: float,
        max_entity_batch: int = 5000,
        stats: DispatchStats | None = None,
        telemetry: Telemetry | None = None,
        sessions: ExtendedSessions | None = None,
        notices: CompletionNotices | None = None,
    ) -> None:
        super().__init__("orchestrations", store.control_signal, store, clock, max_concurrent, poll_interval)
        self.app = app
        self.invoker = invoker
        self.options = options
        self.max_entity_batch = max_entity_batch
        self.stats = stats or DispatchStats()
        self.telemetry = telemetry or Telemetry()
        self.sessions = sessions
        self.notices = notices or CompletionNotices()
        # Checked once: isinstance against a protocol costs more than the rest of a fast path's setup.
        self._inline_store = store if isinstance(store, InlineMessageDelivery) else None
        self._orchestrator_thread: Executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="orchestrator"
        )
        if sessions is not None:
            # With sessions an episode only feeds the new events to code that is already running: too
            # short to be worth two thread switches, so orchestrator and entity code runs on the event
            # loop's own thread (still one thread).
            self._orchestrator_thread = InlineExecutor()

    async def lock_next(self) -> OrchestrationWorkItem | None:
        return await self.store.lock_next_orchestration()

    async def run_inline(self, completed_work: ActivityWorkItem, response: TaskMessage) -> bool:
        """Apply an activity's result right away in one commit with the episode it wakes (the serial
        fast path). False when the instance is busy: the caller completes the activity as usual."""
        item = await self.store.lock_orchestration_with(response.instance_id, [response], completed_work)
        if item is None:
            return False
        await self.process(item)
        return True

    async def deliver_inline(self, message: TaskMessage, check: InstanceCheck) -> bool:
        """A client's message (a raised event, a terminate) applied at once, in one commit with the
        episode it wakes. False when the store has no such path or the instance is busy: the caller
        sends the message as usual. `check`'s error (no such instance, not running) propagates."""
        if self._inline_store is None:
            return False
        item = await self._inline_store.lock_orchestration_for(message, check)
        if item is None:
            return False
        await self.process(item)
        return True

    async def process(self, item: OrchestrationWorkItem) -> None:
        if is_entity_id(item.instance_id):
            await self._process_entity(item)
            return
        try:
            episode = OrchestrationEpisode(
                item.instance_id,
                item.instance,
                item.history,
                item.messages,
                now=self.clock.now(),
                options=self.options,
            )
            while episode.needs_invoke:
                await self._run_orchestrator(episode)
            commit = episode.commit()
            for dropped in commit.dropped:
                log.info(
                    "Dropped %s message for instance '%s': %s",
                    dropped.message.event.event_type.dtfx_name,
                    item.instance_id,
                    dropped.reason,
                )
            await self.store.complete_orchestration(item, commit)
            if commit.instance is not None and commit.instance.runtime_status.is_terminal:
                self.stats.record_instance(commit.instance.runtime_status)
                self.notices.ended(item.instance_id)
                self._end_trace(item, commit)
        except Exception:
            log.exception("Episode of instance '%s' failed; its messages will be retried", item.instance_id)
            if self.sessions is not None:  # it saw events the history will not have
                self.sessions.evict(item.instance_id)
            await self.store.abandon_orchestration(item, delay_seconds=5.0)

    def _end_trace(self, item: OrchestrationWorkItem, commit: EpisodeCommit) -> None:
        if not self.telemetry.enabled or commit.instance is None:
            return
        state = commit.instance
        start = next(
            (e for e in (*commit.history, *item.history) if e.event_type == EventType.EXECUTION_STARTED), None
        )
        if start is None:
            return
        self.telemetry.end_orchestration(
            state.name,
            state.instance_id,
            start.extras.get(TRACE_CONTEXT_KEY),
            parse_timestamp(start.timestamp),
            state.completed_time or self.clock.now(),
            state.runtime_status.value,
        )

    async def _process_entity(self, item: OrchestrationWorkItem) -> None:
        try:
            episode = EntityEpisode(
                item.instance_id,
                item.instance,
                item.messages,
                now=self.clock.now(),
                max_batch_size=self.max_entity_batch,
            )
            if episode.batch:
                attributes = {"durabletask.type": "entity", "durabletask.operations": len(episode.batch)}
                with self.telemetry.span(f"entity:{episode.entity.name}", None, attributes):
                    await self._run_entity(episode)
            await self.store.complete_orchestration(item, episode.commit())
            self.stats.entity_operations += len(episode.batch)
        except Exception:
            log.exception("Entity batch of '%s' failed; its messages will be retried", item.instance_id)
            await self.store.abandon_orchestration(item, delay_seconds=5.0)

    async def _invoke_on_orchestrator_thread(self, spec: FunctionSpec, payload: str) -> InvocationResult:
        """Orchestrator and entity code: the trigger payload as a string, on the one orchestrator thread."""
        request = InvocationRequest(
            function=spec,
            inputs={spec.trigger.name: Datum(payload, "string")},
            invocation_id=new_invocation_id(),
        )
        return await self.invoker.invoke(request, executor=self._orchestrator_thread)

    async def _run_entity(self, episode: EntityEpisode) -> None:
        spec = self.app.entity(episode.entity.name)
        if spec is None:
            known = self.app.known_names("entityTrigger")
            episode.apply_exception(
                LookupError(f"The entity function '{episode.entity.name}' does not exist (known: {known}).")
            )
            return
        result = await self._invoke_on_orchestrator_thread(spec, episode.batch_request())
        if result.error is not None or result.return_value is None:
            episode.apply_exception(result.error or ValueError("the entity function returned nothing"))
        else:
            episode.apply_result(result.return_value.value)

    async def _run_orchestrator(self, episode: OrchestrationEpisode) -> None:
        assert episode.state is not None
        name = episode.state.name
        spec = self.app.orchestrator(name)
        if spec is None:
            episode.apply_exception(
                LookupError(
                    f"The orchestrator function '{name}' does not exist in this app (known orchestrators: "
                    f"{self.app.known_names('orchestrationTrigger')})."
                )
            )
            return
        sessions = self.sessions if self.sessions is not None and self.sessions.supports(spec) else None
        if sessions is not None:
            key = sessions.expect(episode)
            result = await self._invoke_on_orchestrator_thread(sessions.spec_for(spec), key)
        else:
            result = await self._invoke_on_orchestrator_thread(spec, episode.trigger_payload())
        # A resumed session leaves its state already parsed; otherwise the SDK's state text came back.
        state: Any = sessions.take_output(episode.instance_id) if sessions is not None else None
        if result.error is not None:
            episode.apply_exception(result.error)
            return
        if state is None:
            if result.return_value is None:
                episode.apply_exception(
                    ValueError("the orchestrator returned nothing (is it wrapped with Orchestrator.create?)")
                )
                return
            state = result.return_value.value
        episode.apply_result(state)
        if sessions is not None:
            sessions.replayed(episode)

    async def close(self) -> None:
        await super().close()
        self._orchestrator_thread.shutdown(wait=False, cancel_futures=True)
