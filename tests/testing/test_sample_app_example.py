"""A worked example: testing the repo's sample_app (HelloWorld, SayHello, Counter) the way a user
tests their own app. `durable_app` comes from the durable_ext pytest plugin."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df

SAMPLE_APP = Path(__file__).resolve().parents[2] / "sample_app"


def test_hello_world_completes(durable_app) -> None:
    app = durable_app(SAMPLE_APP)
    instance_id = app.start("HelloWorld", "Tokyo")
    status = app.wait_for_completion(instance_id)
    assert status.runtime_status == df.OrchestrationRuntimeStatus.Completed
    assert status.output == "Hello Tokyo!"
    assert status.input == "Tokyo"


def test_say_hello_can_be_stubbed(durable_app) -> None:
    app = durable_app(SAMPLE_APP)
    cities: list[str] = []

    def fake_say_hello(city: str) -> str:
        cities.append(city)
        return f"Bonjour {city}!"

    with app.stub_activity("SayHello", fake_say_hello):
        status = app.wait_for_completion(app.start("HelloWorld", "Paris"))
    assert status.output == "Bonjour Paris!" and cities == ["Paris"]
    # Outside the block the real activity runs again.
    assert app.wait_for_completion(app.start("HelloWorld", "Rome")).output == "Hello Rome!"


def test_history_shows_what_the_orchestrator_did(durable_app) -> None:
    app = durable_app(SAMPLE_APP)
    instance_id = app.start("HelloWorld", "Oslo")
    app.wait_for_completion(instance_id)
    scheduled = [e["Name"] for e in app.history(instance_id) if e["EventType"] == 4]  # TaskScheduled
    assert scheduled == ["SayHello"]


def test_counter_entity(durable_app) -> None:
    app = durable_app(SAMPLE_APP)
    app.signal_entity("Counter@apples", "add", 5)
    app.signal_entity("Counter@apples", "add", 3)
    app.wait_for_idle()  # let the entity process the signals
    assert app.read_entity("Counter@apples").state == 8
    # A scheduled signal fires when the (virtual) clock reaches it.
    app.signal_entity("Counter@apples", "reset", at=app.now() + timedelta(days=7))
    app.advance(timedelta(days=6))
    assert app.read_entity("Counter@apples").state == 8
    app.advance(timedelta(days=1))
    assert app.read_entity("Counter@apples").state == 0
    assert not app.read_entity("Counter@pears").exists


def test_http_starter(durable_app) -> None:
    app = durable_app(SAMPLE_APP)
    # Text is sent as is (here a JSON string, as in the README's curl example); other values as JSON.
    response = app.http("POST", "/api/orchestrators/HelloWorld", '"Lima"')
    assert response.status == 202
    status = app.wait_for_completion(response.json()["id"])
    assert status.output == "Hello Lima!"
