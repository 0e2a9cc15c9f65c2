"""Chains with durable timers and fan-outs: enough in flight that a kill -9 lands mid-episode."""

import time
from datetime import timedelta

import azure.durable_functions as df

app = df.DFApp()


@app.activity_trigger(input_name="value")
def inc(value: int) -> int:
    time.sleep(0.01)
    return value + 1


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    value = context.get_input()
    for _ in range(5):
        value = yield context.call_activity("inc", value)
        yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=200))
    return value


@app.orchestration_trigger(context_name="context")
def fan(context: df.DurableOrchestrationContext):
    base = context.get_input()
    values = yield context.task_all([context.call_activity("inc", base + i) for i in range(10)])
    more = yield context.task_all([context.call_activity("inc", v) for v in values])
    return sum(more)


@app.entity_trigger(context_name="context", entity_name="Tally")
def tally(context: df.DurableEntityContext):
    state = context.get_state(lambda: {"count": 0, "seen": []})
    state["count"] += 1
    state["seen"].append(context.get_input())
    context.set_state(state)


@app.orchestration_trigger(context_name="context")
def single(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("inc", context.get_input()))
