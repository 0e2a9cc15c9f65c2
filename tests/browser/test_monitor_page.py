"""The monitor page in headless Chromium, against a real in-process host (HTTP API only)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import azure.durable_functions as df
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from durable_ext.api.urls import WEBHOOK_PATH
from tests.support.host_runner import poll_until

from .conftest import MONITOR_PATH, SYSTEM_KEY, MonitorHost

T = TypeVar("T")
pytestmark = pytest.mark.usefixtures("monitor_host")


def until(driver: WebDriver, predicate: Callable[[WebDriver], T], timeout: float = 10, what: str = "") -> T:
    def safe(d: WebDriver) -> T | bool:
        try:
            return predicate(d)
        except StaleElementReferenceException:  # re-rendered while we looked: look again
            return False

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(safe, what or "condition")  # type: ignore[return-value]


def tid(driver: WebDriver | WebElement, testid: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def tids(driver: WebDriver | WebElement, testid: str) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def open_page(driver: WebDriver, url: str) -> None:
    driver.get("about:blank")  # a real load each time, even when only the #fragment differs
    driver.get(url)
    until(driver, lambda d: d.execute_script("return document.documentElement.dataset.ready") == "true")


def list_ids(driver: WebDriver) -> list[str]:
    return [row.get_attribute("data-instance-id") or "" for row in tids(driver, "instance-row")]


def screenshot(driver: WebDriver, path: Path) -> Path:
    """A full-page PNG: the window grows to the document's height for the shot."""
    width, height = driver.get_window_size()["width"], driver.get_window_size()["height"]
    full = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, max(height, min(full + 140, 4000)))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(width, height)
    assert path.stat().st_size > 10_000, "the screenshot looks empty"
    return path


def browser_errors(driver: WebDriver) -> list[str]:
    """Uncaught script errors (expected HTTP 404s are logged by Chromium too, as network entries)."""
    log = driver.get_log("browser")
    return [e["message"] for e in log if e.get("level") == "SEVERE" and e.get("source") != "network"]


@pytest.fixture(scope="module")
def instances(monitor_host: MonitorHost) -> dict[str, str]:
    """A finished showcase run (every timeline bar kind) and one instance that never finishes."""
    showcase = monitor_host.start_instance("showcase", {"city": "Tokyo"})
    forever = monitor_host.start_instance("waits_forever", None, "forever-1")
    done = monitor_host.wait_for(showcase)
    assert done["runtimeStatus"] == "Completed", done
    monitor_host.wait_for(forever, statuses={"Running"})
    return {"showcase": showcase, "forever": forever}


def test_page_loads_and_lists_instances(
    browser: WebDriver, monitor_host: MonitorHost, instances: dict[str, str], artifacts: Path
) -> None:
    open_page(browser, monitor_host.monitor_url)
    assert browser.title == "Durable Functions monitor"
    until(browser, lambda d: {instances["showcase"], instances["forever"]} <= set(list_ids(d)))
    rows = {row.get_attribute("data-instance-id"): row for row in tids(browser, "instance-row")}
    showcase = rows[instances["showcase"]]
    assert tid(showcase, "instance-row-name").text == "showcase"
    assert tid(showcase, "instance-row-status").text == "Completed"
    assert tid(rows[instances["forever"]], "instance-row-status").text == "Running"
    # The sub-orchestration is an instance of its own.
    assert "child" in [tid(r, "instance-row-name").text for r in rows.values()]
    assert "instance" in tid(browser, "list-summary").text
    screenshot(browser, artifacts / "monitor-list.png")
    assert browser_errors(browser) == []


def test_filter_by_status(browser: WebDriver, monitor_host: MonitorHost, instances: dict[str, str]) -> None:
    open_page(browser, monitor_host.monitor_url)
    until(browser, lambda d: instances["showcase"] in list_ids(d))
    tid(browser, "status-Running").click()
    tid(browser, "apply-filters").click()
    until(browser, lambda d: instances["showcase"] not in list_ids(d), what="completed instance filtered out")
    assert instances["forever"] in list_ids(browser)
    assert {r.text for r in tids(browser, "instance-row-status")} == {"Running"}

    tid(browser, "status-Running").click()
    tid(browser, "status-Completed").click()
    tid(browser, "apply-filters").click()
    until(browser, lambda d: instances["forever"] not in list_ids(d), what="running instance filtered out")
    assert instances["showcase"] in list_ids(browser)
    assert {r.text for r in tids(browser, "instance-row-status")} == {"Completed"}

    tid(browser, "reset-filters").click()
    until(browser, lambda d: {instances["showcase"], instances["forever"]} <= set(list_ids(d)))

    set_value = "document.querySelector(`[data-testid=${arguments[0]}]`).value = arguments[1];"
    browser.execute_script(set_value, "filter-from", "2099-01-01T00:00:00")
    tid(browser, "apply-filters").click()
    until(browser, lambda d: "No instances match" in tid(d, "instance-table").text, what="nothing after 2099")
    browser.execute_script(set_value, "filter-from", "2000-01-01T00:00")
    browser.execute_script(set_value, "filter-to", "2099-01-01T00:00")
    tid(browser, "apply-filters").click()
    until(browser, lambda d: {instances["showcase"], instances["forever"]} <= set(list_ids(d)))


def test_prefix_filter_and_paging(browser: WebDriver, monitor_host: MonitorHost) -> None:
    ids = [monitor_host.start_instance("quick", i, f"page-{i:02d}") for i in range(12)]
    for instance_id in ids:
        monitor_host.wait_for(instance_id)
    open_page(browser, monitor_host.monitor_url)
    tid(browser, "filter-prefix").send_keys("page-")
    browser.execute_script("const s = document.querySelector('[data-testid=filter-top]'); s.value = '10';")
    tid(browser, "apply-filters").click()
    until(browser, lambda d: len(list_ids(d)) == 10 and all(i.startswith("page-") for i in list_ids(d)))
    first_page = set(list_ids(browser))
    until(browser, lambda d: tid(d, "page-next").is_enabled(), what="a continuation token")
    assert not tid(browser, "page-prev").is_enabled()

    tid(browser, "page-next").click()
    until(browser, lambda d: tid(d, "page-label").text == "Page 2" and len(list_ids(d)) == 2)
    assert first_page | set(list_ids(browser)) == set(ids)
    assert not tid(browser, "page-next").is_enabled()

    tid(browser, "page-prev").click()
    until(browser, lambda d: tid(d, "page-label").text == "Page 1" and set(list_ids(d)) == first_page)


def test_instance_view_shows_history_and_timeline(
    browser: WebDriver, monitor_host: MonitorHost, instances: dict[str, str], artifacts: Path
) -> None:
    open_page(browser, monitor_host.monitor_url)
    link = until(
        browser,
        lambda d: next(
            (a for a in tids(d, "instance-link") if a.text == instances["showcase"]),
            None,
        ),
    )
    link.click()
    until(browser, lambda d: tid(d, "view-instance").is_displayed())
    until(browser, lambda d: tid(d, "instance-status").text == "Completed")
    assert tid(browser, "instance-id").text == instances["showcase"]
    assert tid(browser, "instance-name").text == "showcase"
    assert json.loads(tid(browser, "instance-input").text) == {"city": "Tokyo"}
    output = json.loads(tid(browser, "instance-output").text)
    assert output["first"] == "Hello Tokyo!" and output["child"] == ["Hello Rome!", "Hello Oslo!"]
    assert json.loads(tid(browser, "instance-custom-status").text) == {"stage": "done"}

    events = [r.get_attribute("data-event-type") for r in tids(browser, "history-row")]
    assert events[0] == "ExecutionStarted" and events[-1] == "ExecutionCompleted"
    for expected in ("TaskCompleted", "TaskFailed", "TimerCreated", "TimerFired"):
        assert expected in events
    assert "SubOrchestrationInstanceCompleted" in events

    bars = tids(browser, "timeline-bar")
    kinds = [(b.get_attribute("data-kind"), b.get_attribute("data-state")) for b in bars]
    assert kinds.count(("activity", "completed")) == 4  # greet + three work items
    assert ("activity", "failed") in kinds
    assert ("timer", "completed") in kinds
    assert ("suborchestration", "completed") in kinds
    # Every bar is drawn inside its track with a visible width.
    for bar in bars:
        fill = bar.find_element(By.CSS_SELECTOR, ".tl-bar")
        track = bar.find_element(By.CSS_SELECTOR, ".tl-track")
        assert fill.size["width"] >= 3
        assert fill.location["x"] >= track.location["x"] - 1
        assert fill.location["x"] + fill.size["width"] <= track.location["x"] + track.size["width"] + 1
    # Completed instances offer no terminate/suspend; purge and restart stay available.
    assert not tid(browser, "action-terminate").is_enabled()
    assert tid(browser, "action-purge").is_enabled()
    screenshot(browser, artifacts / "monitor-instance.png")
    assert browser_errors(browser) == []


def test_terminate_from_the_page(browser: WebDriver, monitor_host: MonitorHost, artifacts: Path) -> None:
    instance_id = monitor_host.start_instance("waits_forever", None, "to-terminate")
    monitor_host.wait_for(instance_id, statuses={"Running"})
    open_page(browser, f"{monitor_host.monitor_url}#/instances/{instance_id}")
    until(browser, lambda d: tid(d, "instance-status").text == "Running")
    until(browser, lambda d: tid(d, "action-terminate").is_enabled())
    tid(browser, "action-reason").send_keys("stopped from the monitor")
    tid(browser, "action-terminate").click()
    until(browser, lambda d: tid(d, "instance-status").text == "Terminated", what="status Terminated")
    assert "accepted" in tid(browser, "action-result").text
    assert not tid(browser, "action-terminate").is_enabled()
    until(
        browser,
        lambda d: (
            "ExecutionTerminated" in [r.get_attribute("data-event-type") for r in tids(d, "history-row")]
        ),
    )
    status = monitor_host.wait_for(instance_id)
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "stopped from the monitor"
    screenshot(browser, artifacts / "monitor-terminated.png")


def test_running_instance_shows_open_bars_until_it_ends(
    browser: WebDriver, monitor_host: MonitorHost, artifacts: Path
) -> None:
    instance_id = monitor_host.start_instance("in_progress", None, "sleeping-1")
    open_page(browser, f"{monitor_host.monitor_url}#/instances/{instance_id}")

    def bar_states(d: WebDriver) -> list[tuple[str | None, str | None]]:
        return [
            (b.get_attribute("data-kind"), b.get_attribute("data-state")) for b in tids(d, "timeline-bar")
        ]

    until(browser, lambda d: ("timer", "pending") in bar_states(d), what="an open timer bar")
    assert ("activity", "completed") in bar_states(browser)
    assert tid(browser, "instance-status").text == "Running"
    assert "Refreshing" in tid(browser, "instance-polling").text
    screenshot(browser, artifacts / "monitor-running.png")

    tid(browser, "action-terminate").click()
    until(browser, lambda d: tid(d, "instance-status").text == "Terminated")
    until(browser, lambda d: ("timer", "cancelled") in bar_states(d), what="the timer drawn as never fired")
    assert tid(browser, "instance-polling").text == ""


def test_raise_event_suspend_resume_and_purge(browser: WebDriver, monitor_host: MonitorHost) -> None:
    instance_id = monitor_host.start_instance("approval", None, "needs-approval")
    monitor_host.wait_for(instance_id, statuses={"Running"})
    open_page(browser, f"{monitor_host.monitor_url}#/instances/{instance_id}")
    until(browser, lambda d: tid(d, "action-suspend").is_enabled())

    tid(browser, "action-suspend").click()
    until(browser, lambda d: tid(d, "instance-status").text == "Suspended")
    until(browser, lambda d: tid(d, "action-resume").is_enabled())
    tid(browser, "action-resume").click()
    until(browser, lambda d: tid(d, "instance-status").text == "Running")

    tid(browser, "event-name").send_keys("Approval")
    tid(browser, "event-data").send_keys('{"by": "monitor"}')
    until(browser, lambda d: tid(d, "action-raise").is_enabled())
    tid(browser, "action-raise").click()
    until(browser, lambda d: tid(d, "instance-status").text == "Completed")
    assert json.loads(tid(browser, "instance-output").text) == {"approved": {"by": "monitor"}}

    tid(browser, "action-purge").click()
    tid(browser, "action-purge-confirm").click()
    until(browser, lambda d: tid(d, "instance-missing").is_displayed())
    assert "Purged" in tid(browser, "instance-missing").text
    code, _, _ = monitor_host.http("GET", f"{WEBHOOK_PATH}/instances/{instance_id}")
    assert code == 404


def test_bad_event_json_is_refused_on_the_page(browser: WebDriver, monitor_host: MonitorHost) -> None:
    instance_id = monitor_host.start_instance("approval", None, "bad-json")
    monitor_host.wait_for(instance_id, statuses={"Running"})
    open_page(browser, f"{monitor_host.monitor_url}#/instances/{instance_id}")
    until(browser, lambda d: tid(d, "action-raise").is_enabled())
    tid(browser, "event-name").send_keys("Approval")
    tid(browser, "event-data").send_keys("{not json")
    tid(browser, "action-raise").click()
    until(browser, lambda d: "not valid JSON" in tid(d, "action-result").text)
    assert monitor_host.wait_for(instance_id, statuses={"Running"})["runtimeStatus"] == "Running"


def test_restart_and_rewind_from_the_page(browser: WebDriver, monitor_host: MonitorHost) -> None:
    original = monitor_host.start_instance("quick", {"n": 1}, "to-restart")
    monitor_host.wait_for(original)
    open_page(browser, f"{monitor_host.monitor_url}#/instances/{original}")
    until(browser, lambda d: tid(d, "instance-status").text == "Completed")
    assert not tid(browser, "action-rewind").is_enabled()  # only for Failed instances
    tid(browser, "action-restart").click()
    link = until(browser, lambda d: tids(d, "restarted-link")[0] if tids(d, "restarted-link") else None)
    restarted = link.text
    assert restarted and restarted != original
    link.click()
    until(browser, lambda d: tid(d, "instance-id").text == restarted)
    until(browser, lambda d: tid(d, "instance-status").text == "Completed")
    assert json.loads(tid(browser, "instance-input").text) == {"n": 1}

    fragile = monitor_host.start_instance("fragile", None, "fragile-1")
    assert monitor_host.wait_for(fragile)["runtimeStatus"] == "Failed"
    open_page(browser, f"{monitor_host.monitor_url}#/instances/{fragile}")
    until(browser, lambda d: tid(d, "action-rewind").is_enabled())
    assert ("activity", "failed") in [
        (b.get_attribute("data-kind"), b.get_attribute("data-state")) for b in tids(browser, "timeline-bar")
    ]
    tid(browser, "action-reason").send_keys("try again")
    tid(browser, "action-rewind").click()
    until(browser, lambda d: tid(d, "instance-status").text == "Completed", what="the rewound run completes")
    assert tid(browser, "instance-output").text == "call 2 for fragile-1 worked"


def test_entities_tab_lists_entities_and_shows_state(
    browser: WebDriver, monitor_host: MonitorHost, artifacts: Path
) -> None:
    client = monitor_host.client()
    for key, amount in (("cats", 8), ("dogs", 3)):
        monitor_host.run(client.signal_entity(df.EntityId("Counter", key), "add", amount))
    poll_until(lambda: monitor_host.http("GET", f"{WEBHOOK_PATH}/entities/Counter/dogs")[2] == 3, timeout=10)
    poll_until(lambda: monitor_host.http("GET", f"{WEBHOOK_PATH}/entities/Counter/cats")[2] == 8, timeout=10)

    open_page(browser, monitor_host.monitor_url)
    tid(browser, "nav-entities").click()
    until(browser, lambda d: len(tids(d, "entity-row")) == 2)
    assert tid(browser, "nav-entities").get_attribute("aria-current") == "page"
    assert not tid(browser, "entities-unavailable").is_displayed()
    rows = {r.find_element(By.CSS_SELECTOR, "td:nth-child(2)").text: r for r in tids(browser, "entity-row")}
    assert set(rows) == {"cats", "dogs"}
    tid(rows["cats"], "entity-show").click()
    until(browser, lambda d: tid(d, "entity-state-value").text == "8")
    screenshot(browser, artifacts / "monitor-entities.png")

    tid(browser, "entity-filter-name").send_keys("nothing")
    tid(browser, "entity-apply").click()
    until(browser, lambda d: "No entities found" in tid(d, "entity-table").text)
    assert browser_errors(browser) == []


def test_missing_entity_endpoints_are_reported_kindly(browser: WebDriver, monitor_host: MonitorHost) -> None:
    monitor_host.gate.entities_missing = True  # as on a host without entities
    try:
        open_page(browser, f"{monitor_host.monitor_url}#/entities")
        note = until(
            browser,
            lambda d: (
                tid(d, "entities-unavailable") if tid(d, "entities-unavailable").is_displayed() else None
            ),
        )
        assert "not available on this host" in note.text
        assert not tid(browser, "entity-table").is_displayed()
    finally:
        monitor_host.gate.entities_missing = False
    assert browser_errors(browser) == []


def test_page_works_on_a_host_that_requires_a_key(browser: WebDriver, keyed_host: MonitorHost) -> None:
    code = "?code=" + quote(SYSTEM_KEY, safe="")
    instance_id = keyed_host.start_instance("waits_forever", None, "keyed-1", query=code)
    keyed_host.wait_for(instance_id, statuses={"Running"}, query=code)

    open_page(browser, keyed_host.monitor_url)  # no key: the page says how to give one
    until(browser, lambda d: "?code=" in tid(d, "notice").text, what="a hint to pass the key")

    keyed_host.gate.seen.clear()
    open_page(browser, keyed_host.monitor_url + code)
    until(browser, lambda d: instance_id in list_ids(d))
    tid(browser, "instance-link").click()
    until(browser, lambda d: tid(d, "instance-status").text == "Running")
    tid(browser, "action-terminate").click()
    until(browser, lambda d: tid(d, "instance-status").text == "Terminated")
    tid(browser, "nav-entities").click()
    until(browser, lambda d: "entit" in tid(d, "entity-summary").text)
    assert not tid(browser, "entities-unavailable").is_displayed()
    # Every request the page made, assets included, carried the key.
    assets = [p for p in keyed_host.gate.seen if p.startswith(MONITOR_PATH + "/assets/")]
    api_calls = [p for p in keyed_host.gate.seen if not p.startswith(MONITOR_PATH)]
    assert len(assets) == 2 and len(api_calls) >= 4
    assert all(code[1:] in p for p in assets + api_calls), keyed_host.gate.seen


def test_timeline_computation_of_running_and_cancelled_work(
    browser: WebDriver, monitor_host: MonitorHost
) -> None:
    """computeTimeline on a synthetic history: bars still open, timers that never fired."""
    open_page(browser, monitor_host.monitor_url)
    history = [
        {"EventType": "ExecutionStarted", "Timestamp": "2026-01-01T00:00:00.000000Z"},
        {"EventType": "TaskScheduled", "Timestamp": "2026-01-01T00:00:01Z", "Name": "slow"},
        {"EventType": "TimerCreated", "Timestamp": "2026-01-01T00:00:02Z", "FireAt": "2026-01-01T00:01:00Z"},
        {
            "EventType": "SubOrchestrationInstanceCreated",
            "Timestamp": "2026-01-01T00:00:03Z",
            "Name": "kid",
            "InstanceId": "k1",
        },
        {"EventType": "EventRaised", "Timestamp": "2026-01-01T00:00:04Z", "Name": "Go"},
    ]
    script = """
        const [history, done] = [arguments[0], arguments[arguments.length - 1]];
        const src = document.querySelector('script[type=module]').src;
        import(src).then((m) => done({
            running: m.computeTimeline(history, "Running", Date.parse("2026-01-01T00:00:10Z")),
            terminated: m.computeTimeline(history, "Terminated", Date.parse("2026-01-01T00:00:10Z")),
        })).catch((e) => done({error: String(e)}));
    """
    result: dict[str, Any] = browser.execute_async_script(script, history)
    assert "error" not in result, result
    running = {(b["kind"], b["state"]): b for b in result["running"]["bars"]}
    assert set(running) == {
        ("activity", "pending"),
        ("timer", "pending"),
        ("suborchestration", "pending"),
        ("event", "completed"),
    }
    origin = result["running"]["origin"]
    assert running[("activity", "pending")]["end"] - origin == 10_000  # open until "now"
    assert running[("timer", "pending")]["end"] - origin == 60_000  # drawn to its FireAt
    assert result["running"]["total"] == 60_000
    terminated = {(b["kind"], b["state"]) for b in result["terminated"]["bars"]}
    assert terminated == {
        ("activity", "cancelled"),
        ("timer", "cancelled"),
        ("suborchestration", "cancelled"),
        ("event", "completed"),
    }
