"""Long-running patterns a test should not wait for in real time (v2 programming model)."""

from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Attempts per key for `flaky_reading` (activities run in the test process).
ATTEMPTS: dict[str, int] = {}


@app.orchestration_trigger(context_name="context")
def daily_monitor(context: df.DurableOrchestrationContext):
    """Check a sensor once a day for `days` days (the monitor pattern)."""
    days = context.get_input()
    checks = []
    for _ in range(days):
        yield context.create_timer(context.current_utc_datetime + timedelta(days=1))
        reading = yield context.call_activity("read_sensor", context.current_utc_datetime.isoformat())
        checks.append({"at": context.current_utc_datetime.isoformat(), "reading": reading})
    return checks


@app.activity_trigger(input_name="moment")
def read_sensor(moment: str) -> int:
    return len(moment)


@app.orchestration_trigger(context_name="context")
def approval_workflow(context: df.DurableOrchestrationContext):
    """Ask for approval; escalate if nobody answers within 72 hours (human interaction)."""
    request = context.get_input()
    yield context.call_activity("send_approval_request", request)
    requested_at = context.current_utc_datetime
    deadline = requested_at + timedelta(hours=72)
    timeout = context.create_timer(deadline)
    answer = context.wait_for_external_event("ApprovalEvent")
    winner = yield context.task_any([answer, timeout])
    if winner == answer:
        timeout.cancel()
        outcome = yield context.call_activity("record_decision", answer.result)
    else:
        outcome = yield context.call_activity("escalate", request)
    return {
        "outcome": outcome,
        "requested_at": requested_at.isoformat(),
        "deadline": deadline.isoformat(),
        "decided_at": context.current_utc_datetime.isoformat(),
    }


@app.activity_trigger(input_name="request")
def send_approval_request(request: dict) -> str:
    # The real one would send mail; tests stub it to see what was sent.
    return f"mail sent to {request['approver']}"


@app.activity_trigger(input_name="decision")
def record_decision(decision: dict) -> str:
    return f"{'approved' if decision['approved'] else 'rejected'} by {decision['by']}"


@app.activity_trigger(input_name="request")
def escalate(request: dict) -> str:
    return f"escalated to {request['manager']}"


@app.orchestration_trigger(context_name="context")
def with_retries(context: df.DurableOrchestrationContext):
    """An activity that fails twice, retried an hour apart."""
    started = context.current_utc_datetime
    options = df.RetryOptions(first_retry_interval_in_milliseconds=3_600_000, max_number_of_attempts=5)
    value = yield context.call_activity_with_retry("flaky_reading", options, context.get_input())
    return {"value": value, "hours": (context.current_utc_datetime - started).total_seconds() / 3600}


@app.activity_trigger(input_name="key")
def flaky_reading(key: str) -> str:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] < 3:
        raise ConnectionError(f"sensor offline (attempt {ATTEMPTS[key]})")
    return f"ok after {ATTEMPTS[key]} attempts"


@app.entity_trigger(context_name="context")
def reminder_box(context: df.DurableEntityContext):
    """Collects reminders; a scheduled signal delivers one later."""
    items = context.get_state(list)
    if context.operation_name == "add":
        items.append(context.get_input())
    context.set_state(items)


@app.orchestration_trigger(context_name="context")
def forecast(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("fetch_forecast", context.get_input()))


@app.activity_trigger(input_name="city")
async def fetch_forecast(city: str) -> str:
    raise ConnectionError(f"no network in tests (asked for {city})")
