import azure.durable_functions as df

app = df.DFApp()


@app.activity_trigger(input_name="value")
def step(value: str) -> str:
    return value.upper()


@app.orchestration_trigger(context_name="context")
def traced_parent(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("step", "a")
    second = yield context.call_activity("step", "b")
    child = yield context.call_sub_orchestrator("traced_child", "c")
    return [first, second, child]


@app.orchestration_trigger(context_name="context")
def traced_child(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("step", context.get_input()))
