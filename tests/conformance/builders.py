"""Small builders of instances, events, messages and commits for the conformance tests.

Events are built in the form the DTFx JSON codec round-trips unchanged (e.g. ExecutionStarted always
carries a `version`), so a stored-and-read event compares field-equal to the one written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from durable_ext.engine.history import EventType, HistoryEvent, format_timestamp
from durable_ext.engine.messages import TaskMessage
from durable_ext.engine.orchestration import EpisodeCommit
from durable_ext.engine.status import InstanceState, RuntimeStatus
from durable_ext.store.base import ActivityWorkItem, OrchestrationWorkItem, TaskHubStore


# -- instances -----------------------------------------------------------------------------------------
def pending(
    instance_id: str, created: datetime, *, execution_id: str = "exec-1", name: str = "Greeter"
) -> InstanceState:
    return InstanceState(
        instance_id=instance_id,
        name=name,
        execution_id=execution_id,
        runtime_status=RuntimeStatus.PENDING,
        created_time=created,
        last_updated_time=created,
        input='"Tokyo"',
        version="1.0",
        parent_instance_id="parent-1",
    )


def with_status(
    instance: InstanceState, status: RuntimeStatus, at: datetime, *, output: str | None = None
) -> InstanceState:
    return replace(
        instance,
        runtime_status=status,
        last_updated_time=at,
        completed_time=at if status.is_terminal else None,
        output=output,
        custom_status='{"step":2}',
    )


# -- history events --------------------------------------------------------------------------------
def execution_started(instance: InstanceState) -> HistoryEvent:
    return HistoryEvent(
        EventType.EXECUTION_STARTED,
        timestamp=format_timestamp(instance.created_time),
        name=instance.name,
        version=instance.version,
        input=instance.input,
        instance_id=instance.instance_id,
        execution_id=instance.execution_id,
        scheduled_start_time=None,
        tags={"team": "a"},
    )


def orchestrator_started(at: datetime) -> HistoryEvent:
    return HistoryEvent(EventType.ORCHESTRATOR_STARTED, timestamp=format_timestamp(at))


def orchestrator_completed(at: datetime) -> HistoryEvent:
    return HistoryEvent(EventType.ORCHESTRATOR_COMPLETED, timestamp=format_timestamp(at), is_played=True)


def task_scheduled_event(event_id: int, name: str = "SayHello", input: str = '"Tokyo"') -> HistoryEvent:
    return HistoryEvent(EventType.TASK_SCHEDULED, event_id=event_id, name=name, input=input, is_played=True)


def event_raised_event(name: str, input: str) -> HistoryEvent:
    return HistoryEvent(EventType.EVENT_RAISED, name=name, input=input)


def task_completed_event(scheduled_id: int, result: str) -> HistoryEvent:
    return HistoryEvent(EventType.TASK_COMPLETED, task_scheduled_id=scheduled_id, result=result)


def episode(at: datetime, *middle: HistoryEvent) -> list[HistoryEvent]:
    """One episode's events: OrchestratorStarted, `middle`, OrchestratorCompleted."""
    return [orchestrator_started(at), *middle, orchestrator_completed(at)]


# -- messages ---------------------------------------------------------------------------------------
def start_message(instance: InstanceState, visible_at: datetime | None = None) -> TaskMessage:
    return TaskMessage(
        instance.instance_id,
        execution_started(instance),
        execution_id=instance.execution_id,
        visible_at=visible_at,
    )


def raise_event(
    instance_id: str, name: str = "Approval", input: str = "true", *, visible_at: datetime | None = None
) -> TaskMessage:
    return TaskMessage(instance_id, event_raised_event(name, input), visible_at=visible_at)


def schedule_activity(instance: InstanceState, event_id: int, name: str = "SayHello") -> TaskMessage:
    return TaskMessage(
        instance.instance_id, task_scheduled_event(event_id, name), execution_id=instance.execution_id
    )


def activity_result(item: ActivityWorkItem, result: str = '"Hello Tokyo!"') -> TaskMessage:
    return TaskMessage(
        item.instance_id, task_completed_event(item.event.event_id, result), execution_id=item.execution_id
    )


def delivered(messages: Sequence[TaskMessage]) -> list[tuple[str, str | None, HistoryEvent]]:
    """What a message carries, without its delivery time (a store need not hand `visible_at` back)."""
    return [(m.instance_id, m.execution_id, m.event) for m in messages]


# -- commits ----------------------------------------------------------------------------------------
def commit(
    instance: InstanceState | None,
    history: Sequence[HistoryEvent] = (),
    messages: Sequence[TaskMessage] = (),
    *,
    replaces_history: bool = False,
    deferred: Sequence[TaskMessage] = (),
) -> EpisodeCommit:
    return EpisodeCommit(
        instance=instance,
        history=list(history),
        replaces_history=replaces_history,
        messages=list(messages),
        deferred=list(deferred),
    )


# -- store steps ----------------------------------------------------------------------------------------
async def start(store: TaskHubStore, instance: InstanceState) -> InstanceState:
    await store.start_orchestration(instance, start_message(instance))
    return instance


async def lock_all_orchestrations(store: TaskHubStore) -> list[OrchestrationWorkItem]:
    """Lock every instance that has visible messages (each once), without completing any."""
    items = []
    while (item := await store.lock_next_orchestration()) is not None:
        items.append(item)
    return items


async def lock_instance(store: TaskHubStore, instance_id: str) -> OrchestrationWorkItem:
    """Lock `instance_id`, giving back (abandoning at once) any other instance locked on the way."""
    items = await lock_all_orchestrations(store)
    wanted = [i for i in items if i.instance_id == instance_id]
    assert wanted, f"no visible messages for {instance_id!r}"
    for other in items:
        if other is not wanted[0]:
            await store.abandon_orchestration(other, delay_seconds=0)
    return wanted[0]


async def run_first_episode(
    store: TaskHubStore, instance: InstanceState, status: RuntimeStatus, at: datetime
) -> InstanceState:
    """Lock the instance's start and commit its first episode, leaving it in `status`."""
    item = await lock_instance(store, instance.instance_id)
    state = with_status(instance, status, at)
    history = episode(at, execution_started(instance))
    await store.complete_orchestration(item, commit(state, history, replaces_history=True))
    return state
