"""A small app for the monitor page's browser tests: one orchestration that makes every timeline bar."""

import time
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="city")
def greet(city: str) -> str:
    time.sleep(0.05)
    return f"Hello {city}!"


@app.activity_trigger(input_name="n")
def work(n: int) -> int:
    time.sleep(0.04 * (n + 1))
    return n * n


@app.activity_trigger(input_name="message")
def explode(message: str) -> str:
    raise ValueError(message)


@app.orchestration_trigger(context_name="context")
def showcase(context: df.DurableOrchestrationContext):
    """Activities (one failing), a fan-out, a durable timer and a sub-orchestration."""
    context.set_custom_status({"stage": "greeting"})
    first = yield context.call_activity("greet", (context.get_input() or {}).get("city", "Tokyo"))
    squares = yield context.task_all([context.call_activity("work", i) for i in range(3)])
    context.set_custom_status({"stage": "waiting"})
    yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=250))
    child = yield context.call_sub_orchestrator("child", ["Rome", "Oslo"])
    recovered = False
    try:
        yield context.call_activity("explode", "bad input")
    except Exception:
        recovered = True
    context.set_custom_status({"stage": "done"})
    return {"first": first, "squares": squares, "child": child, "recovered": recovered}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    results = []
    for city in context.get_input():
        results.append((yield context.call_activity("greet", city)))
    return results


@app.orchestration_trigger(context_name="context")
def quick(context: df.DurableOrchestrationContext):
    return context.get_input()


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting for Approval")
    value = yield context.wait_for_external_event("Approval")
    return {"approved": value}


@app.orchestration_trigger(context_name="context")
def waits_forever(context: df.DurableOrchestrationContext):
    yield context.wait_for_external_event("NeverRaised")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def in_progress(context: df.DurableOrchestrationContext):
    """Stays Running on a one-hour timer after one activity: open bars on the timeline."""
    context.set_custom_status({"stage": "sleeping"})
    yield context.call_activity("greet", "Lima")
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return "woke up"


# Calls per key of the activity that fails once (activities run in this process).
CALLS: dict[str, int] = {}


@app.activity_trigger(input_name="key")
def fails_once(key: str) -> str:
    CALLS[key] = CALLS.get(key, 0) + 1
    if CALLS[key] == 1:
        raise RuntimeError(f"first call for {key} fails")
    return f"call {CALLS[key]} for {key} worked"


@app.orchestration_trigger(context_name="context")
def fragile(context: df.DurableOrchestrationContext):
    """Fails on its first run; a rewind runs the failed activity again and completes it."""
    return (yield context.call_activity("fails_once", context.instance_id))


@app.entity_trigger(context_name="context", entity_name="Counter")
def counter(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += context.get_input()
    elif context.operation_name == "reset":
        value = 0
    context.set_state(value)
