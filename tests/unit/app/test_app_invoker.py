from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from azure.durable_functions.models.utils import http_utils
from azure.functions.meta import Datum

from durable_ext.app import datums
from durable_ext.app.invoker import InProcessInvoker
from durable_ext.app.loader import LoadedApp, load_app
from durable_ext.app.spec import FunctionSpec, InvocationRequest, InvocationResult

# The SDK warns about the v1 model and about df_loads without expected_type; neither is under test here.
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:azure.durable_functions"),
    pytest.mark.filterwarnings("ignore:azure.functions df_loads:DeprecationWarning"),
]


ORCHESTRATION_CONTEXT = {
    "history": [
        {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": "2024-01-01T00:00:00Z"},
        {
            "EventType": 0,
            "EventId": -1,
            "IsPlayed": False,
            "Timestamp": "2024-01-01T00:00:00Z",
            "Name": "Hello",
            "Version": "",
            "Input": '"\\"x\\""',
        },
    ],
    "instanceId": "inst-1",
    "isReplaying": False,
    "parentInstanceId": None,
    "input": '"x"',
    "upperSchemaVersion": 1,
    "upperSchemaVersionNew": 2,
}


@pytest.fixture(scope="module")
def v1(request: pytest.FixtureRequest) -> LoadedApp:
    return load_app(Path(request.path).parents[2] / "fixtures" / "apps" / "v1_basic", settings={})


@pytest.fixture(scope="module")
def v2(request: pytest.FixtureRequest) -> LoadedApp:
    return load_app(Path(request.path).parents[2] / "fixtures" / "apps" / "v2_basic", settings={})


@pytest.fixture
def invoker() -> Iterator[InProcessInvoker]:
    inv = InProcessInvoker(max_workers=2)
    yield inv
    inv.close()


def run(
    invoker: InProcessInvoker,
    spec: FunctionSpec | None,
    inputs: dict[str, Datum],
    metadata: dict[str, Datum] | None = None,
    **kwargs: Any,
) -> InvocationResult:
    assert spec is not None
    request = InvocationRequest(
        function=spec, inputs=inputs, invocation_id="inv-1", trigger_metadata=metadata
    )
    return asyncio.run(invoker.invoke(request, **kwargs))


def test_activity_decodes_json_text_and_returns_df_dumps(v1: LoadedApp, invoker: InProcessInvoker) -> None:
    result = run(invoker, v1.activity("V1SayHello"), {"name": datums.string_datum('"Tokyo"')})
    assert result.ok, result.error
    assert result.return_value == Datum('"Hello Tokyo!"', "json")
    assert result.outputs == {}
    assert result.duration_ms > 0


def test_activity_with_non_json_string_gets_the_raw_text(v1: LoadedApp, invoker: InProcessInvoker) -> None:
    result = run(invoker, v1.activity("V1SayHello"), {"name": datums.json_datum("Oslo")})
    assert result.return_value == Datum('"Hello Oslo!"', "json")


@pytest.mark.parametrize(
    ("app_name", "orchestrator", "activity"),
    [("v1", "V1HelloOrchestrator", "V1SayHello"), ("v2", "V2Hello", "V2SayHello")],
)
def test_orchestrator_returns_actions(
    request: pytest.FixtureRequest, invoker: InProcessInvoker, app_name: str, orchestrator: str, activity: str
) -> None:
    app: LoadedApp = request.getfixturevalue(app_name)
    context = datums.string_datum(json.dumps(ORCHESTRATION_CONTEXT))
    result = run(invoker, app.orchestrator(orchestrator), {"context": context})
    assert result.ok, result.error
    assert result.return_value is not None and result.return_value.type == "json"
    state = json.loads(result.return_value.value)
    assert state["isDone"] is False
    assert state["actions"] == [[{"actionType": 0, "functionName": activity, "input": '"x"'}]]


def test_entity_batch_runs(v1: LoadedApp, invoker: InProcessInvoker) -> None:
    batch = {
        "self": {"name": "v1counter", "key": "k"},
        "exists": False,
        "state": None,
        "batch": [{"name": "add", "input": '"5"', "isSignal": True}],
    }
    result = run(invoker, v1.entity("V1Counter"), {"context": datums.string_datum(json.dumps(batch))})
    assert result.ok, result.error
    assert result.return_value is not None
    response = json.loads(result.return_value.value)
    assert response["entityExists"] is True
    assert json.loads(response["entityState"]) == 5


def test_http_function_gets_context_and_runs_on_the_pool(v1: LoadedApp, invoker: InProcessInvoker) -> None:
    req = datums.http_request_datum("GET", "http://h/api/V1Ping?who=me", {}, {"who": "me"}, {}, b"")
    result = run(invoker, v1.functions["V1Ping"], {"req": req})
    assert result.ok, result.error
    status, headers, body = datums.http_response_from_datum(result.return_value)
    assert status == 202
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert payload["invocation_id"] == "inv-1"
    assert payload["function_name"] == "V1Ping"
    assert payload["function_directory"].endswith("V1Ping")
    assert payload["thread_invocation_id"] == "inv-1"
    assert payload["thread"].startswith("durable-ext-fn")
    assert payload["who"] == "me"


def test_sync_code_uses_the_given_executor(v1: LoadedApp, invoker: InProcessInvoker) -> None:
    req = datums.http_request_datum("GET", "http://h/api/V1Ping", {}, {}, {}, b"")
    with ThreadPoolExecutor(1, thread_name_prefix="orchestrator-thread") as executor:
        result = run(invoker, v1.functions["V1Ping"], {"req": req}, executor=executor)
    assert json.loads(datums.http_response_from_datum(result.return_value)[2])["thread"].startswith(
        "orchestrator-thread"
    )


def test_str_return_through_http_output(v2: LoadedApp, invoker: InProcessInvoker) -> None:
    req = datums.http_request_datum("POST", "http://h/api/v2/echo", {}, {}, {}, b"hello")
    result = run(invoker, v2.functions["v2_echo"], {"req": req})
    assert datums.http_response_from_datum(result.return_value) == (
        200,
        {"Content-Type": "text/plain; charset=utf-8"},
        b"hello",
    )


def test_out_parameter_is_encoded_with_its_binding(v1: LoadedApp, invoker: InProcessInvoker) -> None:
    datum, metadata = datums.queue_message_datum(
        "hi", id="m1", dequeue_count=2, insertion_time="2024-01-01T00:00:00Z"
    )
    result = run(invoker, v1.functions["V1QueueCopy"], {"msg": datum}, metadata)
    assert result.ok, result.error
    assert result.outputs == {"copy": Datum("m1:2:hi", "string")}
    assert result.return_value is None


def test_user_exception_is_captured(v1: LoadedApp, invoker: InProcessInvoker) -> None:
    result = run(invoker, v1.activity("V1Fail"), {"payload": datums.string_datum("5")})
    assert not result.ok
    assert isinstance(result.error, ValueError)
    assert str(result.error) == "cannot handle 5"
    assert result.return_value is None


def test_missing_input_is_an_error_result(v1: LoadedApp, invoker: InProcessInvoker) -> None:
    result = run(invoker, v1.activity("V1SayHello"), {})
    assert isinstance(result.error, LookupError)


def test_decode_failure_is_an_error_result(v1: LoadedApp, invoker: InProcessInvoker) -> None:
    result = run(invoker, v1.functions["V1Ping"], {"req": datums.string_datum("not http")})
    assert isinstance(result.error, TypeError)


def write_function(
    make_app: Callable[[dict[str, str]], Path], bindings: list[dict[str, Any]], code: str
) -> FunctionSpec:
    root = make_app({"F/function.json": json.dumps({"bindings": bindings}), "F/__init__.py": code})
    return load_app(root, settings={}).functions["F"]


QUEUE_TRIGGER = {"name": "msg", "type": "queueTrigger", "direction": "in", "queueName": "q"}


def test_return_value_without_a_return_binding_is_dropped(
    make_app: Callable[[dict[str, str]], Path], invoker: InProcessInvoker
) -> None:
    spec = write_function(make_app, [QUEUE_TRIGGER], "def main(msg):\n    return 'ignored'\n")
    datum, metadata = datums.queue_message_datum("x", id="1")
    result = run(invoker, spec, {"msg": datum}, metadata)
    assert result.ok and result.return_value is None


def test_str_annotation_gets_the_raw_value(
    make_app: Callable[[dict[str, str]], Path], invoker: InProcessInvoker
) -> None:
    code = "seen = []\n\ndef main(msg: str) -> None:\n    seen.append(msg)\n"
    spec = write_function(make_app, [QUEUE_TRIGGER], code)
    result = run(invoker, spec, {"msg": datums.string_datum("raw text")})  # no metadata needed for a str
    assert result.ok, result.error
    assert spec.func.__globals__["seen"] == ["raw text"]


def test_legacy_orchestration_client_passes_the_raw_string(
    make_app: Callable[[dict[str, str]], Path], invoker: InProcessInvoker
) -> None:
    bindings = [
        {"name": "req", "type": "httpTrigger", "direction": "in"},
        {"name": "starter", "type": "orchestrationClient", "direction": "in"},
        {"name": "$return", "type": "http", "direction": "out"},
    ]
    spec = write_function(
        make_app, bindings, "def main(req, starter):\n    return type(starter).__name__ + starter\n"
    )
    req = datums.http_request_datum("GET", "http://h/api/F", {}, {}, {}, b"")
    result = run(invoker, spec, {"req": req, "starter": datums.string_datum("{}")})
    assert datums.http_response_from_datum(result.return_value)[2] == b"str{}"


def test_none_for_an_http_return_is_an_error_like_the_worker(
    make_app: Callable[[dict[str, str]], Path], invoker: InProcessInvoker
) -> None:
    bindings = [
        {"name": "req", "type": "httpTrigger", "direction": "in"},
        {"name": "$return", "type": "http", "direction": "out"},
    ]
    spec = write_function(make_app, bindings, "def main(req):\n    return None\n")
    result = run(invoker, spec, {"req": datums.http_request_datum("GET", "http://h/api/F", {}, {}, {}, b"")})
    assert isinstance(result.error, TypeError)


def test_async_function_runs_on_the_event_loop(
    make_app: Callable[[dict[str, str]], Path], invoker: InProcessInvoker
) -> None:
    code = "import threading\n\nasync def main(x):\n    return threading.current_thread().name\n"
    spec = write_function(make_app, [{"name": "x", "type": "activityTrigger", "direction": "in"}], code)
    result = run(invoker, spec, {"x": datums.string_datum("null")})
    assert result.return_value == Datum(json.dumps(threading.main_thread().name), "json")


# -- durable client: the starter calls the host's RPC endpoint; a tiny server stands in for it --------------


def client_binding(base: str) -> str:
    return json.dumps(
        {
            "taskHubName": "TestHub",
            "creationUrls": {},
            "managementUrls": {"id": "INSTANCEID", "statusQueryGetUri": f"{base}/instances/INSTANCEID"},
            "baseUrl": f"{base}/runtime/webhooks/durabletask",
            "requiredQueryStringParameters": "",
            "rpcBaseUrl": f"{base}/durabletask/",
            "httpBaseUrl": None,
        }
    )


async def start_through_client(
    invoker: InProcessInvoker, spec: FunctionSpec, client_param: str, url: str
) -> tuple[InvocationResult, list[str]]:
    started: list[str] = []

    async def start(request: web.Request) -> web.Response:
        started.append(request.match_info["name"])
        return web.json_response({"id": "new-instance"}, status=202)

    server = web.Application()
    server.router.add_post("/durabletask/orchestrators/{name}", start)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        inputs = {
            "req": datums.http_request_datum(
                "POST", url, {}, {}, {"functionName": "V1HelloOrchestrator", "name": "V2Hello"}, b""
            ),
            client_param: datums.string_datum(client_binding(f"http://127.0.0.1:{port}")),
        }
        result = await invoker.invoke(InvocationRequest(spec, inputs, "inv-client"))
    finally:
        await runner.cleanup()
        # The SDK keeps one module-level aiohttp session, bound to the loop it was created on.
        await http_utils._close_session()
    return result, started


@pytest.mark.parametrize(
    ("app_name", "function", "client_param", "orchestrator"),
    [("v1", "V1HttpStart", "starter", "V1HelloOrchestrator"), ("v2", "v2_http_start", "client", "V2Hello")],
)
def test_http_starter_with_durable_client(
    request: pytest.FixtureRequest,
    invoker: InProcessInvoker,
    app_name: str,
    function: str,
    client_param: str,
    orchestrator: str,
) -> None:

    app: LoadedApp = request.getfixturevalue(app_name)
    result, started = asyncio.run(
        start_through_client(invoker, app.functions[function], client_param, "http://h/api/start")
    )
    assert result.ok, result.error
    assert started == [orchestrator]
    status, headers, body = datums.http_response_from_datum(result.return_value)
    assert status == 202
    assert json.loads(body)["id"] == "new-instance"
    assert "new-instance" in headers["Location"]
