"""The benchmark app (v2 model): the same shapes the peers run, with one step function, `x + 1`.

It is an ordinary Durable Functions app: it deploys to Azure unchanged. Inputs are JSON objects (not
bare numbers or lists) so that `get_input()` behaves the same here and on Azure.
"""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

Orchestration = Generator[Any, Any, int]

app = df.DFApp()


@app.activity_trigger(input_name="x")
def inc(x: int) -> int:
    return x + 1


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext) -> Orchestration:
    """`steps` sequential activities: chain10 has steps=10, HelloCities5 has steps=5."""
    args = context.get_input()
    x = args["x"]
    for _ in range(args["steps"]):
        x = yield context.call_activity("inc", x)
    return x


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext) -> Orchestration:
    """`n` activities at once, then the sum of their results."""
    n = context.get_input()["n"]
    results = yield context.task_all([context.call_activity("inc", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def wait_events(context: df.DurableOrchestrationContext) -> Orchestration:
    """Waits for `n` events named "e", one after the other, and returns how many arrived.

    (It counts rather than sums: the 1.7 SDK client JSON-encodes event data twice, so `1` arrives as "1".)
    """
    n = context.get_input()["n"]
    received = 0
    for _ in range(n):
        yield context.wait_for_external_event("e")
        received += 1
    return received


@app.orchestration_trigger(context_name="context")
def hello1(context: df.DurableOrchestrationContext) -> Orchestration:
    """One activity: the start-to-completed latency probe."""
    return (yield context.call_activity("inc", context.get_input()["x"]))


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    """A counter entity: `add` adds its input, `get` returns the count."""
    count = context.get_state(lambda: 0)
    if context.operation_name == "add":
        context.set_state(count + context.get_input())
    elif context.operation_name == "get":
        context.set_result(count)
