"""Orchestrations exercising every SDK feature, written as a user would for Azure (v2 model)."""

import json
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Per-key attempt counters for the flaky activity (activities run in this process).
ATTEMPTS: dict[str, int] = {}
# Flipped by the non-determinism test between two episodes.
SWITCHES: dict[str, bool] = {"renamed": False}


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    return f"Hello {name}!"


@app.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2


@app.activity_trigger(input_name="message")
def explode(message: str) -> str:
    raise ValueError(message)


@app.activity_trigger(input_name="payload")
def flaky(payload: dict) -> str:
    key = payload["key"]
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] <= payload["failures"]:
        raise RuntimeError(f"attempt {ATTEMPTS[key]} failed")
    return f"succeeded on attempt {ATTEMPTS[key]}"


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    cities = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for city in cities:
        results.append((yield context.call_activity("say_hello", city)))
    return results


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("double", i) for i in range(count)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def catch_failure(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("explode", "kaboom")
    except Exception as exc:  # activity failures reach user code as catchable exceptions
        return str(exc)
    return "not reached"


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):
    payload = context.get_input()
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=100, max_number_of_attempts=payload["attempts"]
    )
    try:
        return (yield context.call_activity_with_retry("flaky", options, payload))
    except Exception as exc:
        return f"gave up: {exc}"


@app.orchestration_trigger(context_name="context")
def timer(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(seconds=seconds))
    return (context.current_utc_datetime - start).total_seconds()


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    value = yield context.wait_for_external_event("Approval")
    return value


@app.orchestration_trigger(context_name="context")
def approval_with_timeout(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    deadline = context.current_utc_datetime + timedelta(seconds=seconds)
    timeout = context.create_timer(deadline)
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, timeout])
    if winner == event:
        timeout.cancel()
        return {"approved": event.result}
    return "timed out"


@app.orchestration_trigger(context_name="context")
def two_events(context: df.DurableOrchestrationContext):
    first = yield context.wait_for_external_event("Step")
    second = yield context.wait_for_external_event("Other")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    cities = context.get_input()
    child = yield context.call_sub_orchestrator("sequence", cities)
    named = yield context.call_sub_orchestrator("sequence", ["Rome"], f"{context.instance_id}-child")
    return {"child": child, "named": named}


@app.orchestration_trigger(context_name="context")
def parent_of_failure(context: df.DurableOrchestrationContext):
    try:
        yield context.call_sub_orchestrator("fails", None)
    except Exception as exc:
        return f"child failed: {exc}"


@app.orchestration_trigger(context_name="context")
def fails(context: df.DurableOrchestrationContext):
    yield context.call_activity("say_hello", "before failing")
    raise RuntimeError("orchestrator broke")


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input()
    if n < 3:
        yield context.call_activity("double", n)
        context.continue_as_new(n + 1)
        return None
    return n


@app.orchestration_trigger(context_name="context")
def deterministic_values(context: df.DurableOrchestrationContext):
    first_uuid = str(context.new_uuid())
    first_time = context.current_utc_datetime.isoformat()
    context.set_custom_status({"stage": "started"})
    yield context.call_activity("say_hello", "x")
    second_uuid = str(context.new_uuid())
    context.set_custom_status({"stage": "done"})
    return {
        "uuids": [first_uuid, second_uuid],
        "time": first_time,
        "instance": context.instance_id,
        "parent": context.parent_instance_id,
    }


@app.orchestration_trigger(context_name="context")
def unserializable(context: df.DurableOrchestrationContext):
    yield context.call_activity("say_hello", "x")
    return object()


@app.orchestration_trigger(context_name="context")
def changing(context: df.DurableOrchestrationContext):
    name = "double" if SWITCHES["renamed"] else "say_hello"
    yield context.call_activity(name, 2)
    yield context.wait_for_external_event("Go")
    return "done"


@app.orchestration_trigger(context_name="context")
def nested_compound(context: df.DurableOrchestrationContext):
    left = context.task_all([context.call_activity("double", 1), context.call_activity("double", 2)])
    right = context.task_any([context.wait_for_external_event("Never"), context.call_activity("double", 10)])
    both = yield context.task_all([left, right])
    return [both[0], both[1].result]


@app.orchestration_trigger(context_name="context")
def waits_forever(context: df.DurableOrchestrationContext):
    yield context.wait_for_external_event("NeverRaised")
    return "unreachable"


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return client.create_check_status_response(req, instance_id)


@app.route(route="echo", methods=["GET"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"q": req.params.get("q")}), mimetype="application/json")


@app.route(route="accepted", methods=["GET"])
def accepted(req: func.HttpRequest) -> func.HttpResponse:
    base = req.url.split("/api/")[0]
    return func.HttpResponse(
        status_code=202, headers={"Location": f"{base}/api/echo?q=polled", "Retry-After": "0"}
    )


@app.orchestration_trigger(context_name="context")
def http_call(context: df.DurableOrchestrationContext):
    request = context.get_input()
    response = yield context.call_http(request["method"], request["uri"], request.get("content"))
    return {"status": response["statusCode"], "content": response["content"]}


@app.orchestration_trigger(context_name="context")
def fail_once(context: df.DurableOrchestrationContext):
    key = context.get_input()
    first = yield context.call_activity("say_hello", "before")
    second = yield context.call_activity("flaky", {"key": key, "failures": 1})
    return [first, second]


@app.route(route="other-hub/{name}", methods=["POST"])
@app.durable_client_input(client_name="client", task_hub="OtherHub")
async def start_in_other_hub(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, None)
    status = await client.get_status(instance_id)
    return func.HttpResponse(
        json.dumps(
            {
                "id": instance_id,
                "status": status.runtime_status.value,
                "hub": client._orchestration_bindings.task_hub_name,
            }
        ),
        mimetype="application/json",
    )


@app.route(route="wait/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_and_wait(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return await client.wait_for_completion_or_create_check_status_response(req, instance_id, 10000, 50)


@app.queue_trigger(arg_name="msg", queue_name="always-fails", connection="AzureWebJobsStorage")
def always_fails(msg: func.QueueMessage) -> None:
    raise RuntimeError(f"cannot handle {msg.get_body().decode()}")


@app.route(route="enqueue", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="relay", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.get_body().decode())
    return func.HttpResponse("queued", status_code=202)


@app.queue_trigger(arg_name="msg", queue_name="relay", connection="AzureWebJobsStorage")
@app.durable_client_input(client_name="client")
async def relay(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    await client.start_new(
        "sequence", f"relay-{msg.dequeue_count}-{msg.get_body().decode()}", [msg.get_body().decode()]
    )


@app.entity_trigger(context_name="context", entity_name="Counter")
def counter_entity(context: df.DurableEntityContext):
    current = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        current += context.get_input()
    elif operation == "reset":
        current = 0
    elif operation == "get":
        context.set_result(current)
    elif operation == "fail":
        raise ValueError("counter cannot do that")
    elif operation == "delete":
        context.destruct_on_exit()
        return
    context.set_state(current)


@app.entity_trigger(context_name="context", entity_name="Log")
def log_entity(context: df.DurableEntityContext):
    entries = context.get_state(lambda: [])
    entries.append(context.get_input())
    context.set_state(entries)


@app.orchestration_trigger(context_name="context")
def use_counter(context: df.DurableOrchestrationContext):
    entity = df.EntityId("Counter", context.get_input())
    context.signal_entity(entity, "add", 5)
    yield context.call_entity(entity, "add", 10)
    value = yield context.call_entity(entity, "get")
    try:
        yield context.call_entity(entity, "fail")
    except Exception as exc:
        return {"value": value, "error": str(exc)}
    return {"value": value, "error": None}


@app.orchestration_trigger(context_name="context")
def parent_of_entity_user(context: df.DurableOrchestrationContext):
    return (yield context.call_sub_orchestrator("use_counter", context.get_input()))
