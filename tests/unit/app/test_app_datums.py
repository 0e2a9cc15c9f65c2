from __future__ import annotations

import datetime as dt
import json

import azure.functions as func
from azure.functions.http import HttpRequestConverter, HttpResponseConverter
from azure.functions.queue import QueueMessageInConverter
from azure.functions.timer import TimerRequestConverter

from durable_ext.app import datums


def test_http_request_datum_decodes_to_http_request() -> None:
    datum = datums.http_request_datum(
        "post",
        "http://localhost:7071/api/orders/7?x=1",
        {"Content-Type": "application/json", "X-Thing": "a, b"},
        {"x": "1"},
        {"id": "7"},
        b'{"qty": 2}',
    )
    req = HttpRequestConverter.decode(datum, trigger_metadata={})
    assert req.method == "POST"
    assert req.url == "http://localhost:7071/api/orders/7?x=1"
    assert req.headers["content-type"] == "application/json"
    assert req.params == {"x": "1"}
    assert req.route_params == {"id": "7"}
    assert req.get_body() == b'{"qty": 2}'
    assert req.get_json() == {"qty": 2}


def test_response_from_http_response() -> None:
    response = func.HttpResponse("created", status_code=201, headers={"X-Id": "9"}, mimetype="text/plain")
    status, headers, body = datums.http_response_from_datum(
        HttpResponseConverter.encode(response, expected_type=None)
    )
    assert status == 201
    assert headers["X-Id"] == "9"
    assert headers["content-type"].startswith("text/plain")
    assert body == b"created"


def test_response_from_str_return() -> None:
    datum = HttpResponseConverter.encode("hi", expected_type=None)
    assert datums.http_response_from_datum(datum) == (
        200,
        {"Content-Type": "text/plain; charset=utf-8"},
        b"hi",
    )


def test_response_without_value_is_no_content() -> None:
    assert datums.http_response_from_datum(None) == (204, {}, b"")


def test_set_cookie_headers_are_available() -> None:
    response = func.HttpResponse("x", headers={"Set-Cookie": "a=1; Path=/"})
    datum = HttpResponseConverter.encode(response, expected_type=None)
    assert datums.http_response_cookies(datum) == ["a=1; Path=/"]
    assert "Set-Cookie" not in datums.http_response_from_datum(datum)[1]


def test_queue_message_datum_decodes_with_metadata() -> None:
    inserted = dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)
    datum, metadata = datums.queue_message_datum(
        "payload",
        id="m-1",
        dequeue_count=3,
        insertion_time=inserted,
        expiration_time="2024-01-09T03:04:05Z",
        next_visible_time=inserted + dt.timedelta(seconds=30),
        pop_receipt="pr",
    )
    msg = QueueMessageInConverter.decode(datum, trigger_metadata=metadata)
    assert msg.id == "m-1"
    assert msg.get_body() == b"payload"
    assert msg.dequeue_count == 3
    assert msg.insertion_time == inserted
    assert msg.expiration_time == dt.datetime(2024, 1, 9, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert msg.time_next_visible == inserted + dt.timedelta(seconds=30)
    assert msg.pop_receipt == "pr"


def test_timer_datum_decodes() -> None:
    timer = TimerRequestConverter.decode(datums.timer_datum(past_due=True), trigger_metadata={})
    assert timer.past_due is True


def test_simple_constructors() -> None:
    assert datums.string_datum("a").type == "string"
    assert datums.json_datum(json.dumps([1])).python_value == [1]
