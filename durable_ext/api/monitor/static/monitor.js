// Durable Functions monitor: a client of the public HTTP API under /runtime/webhooks/durabletask only.
// No framework, no build step. Every value from the API is written with textContent, never as HTML.

const API_BASE = document.querySelector('meta[name="durable-api-base"]').content.replace(/\/$/, "");
const CODE = new URLSearchParams(location.search).get("code");
const TERMINAL = new Set(["Completed", "Failed", "Terminated", "Canceled"]);
const INSTANCE_POLL_MS = 1000;
const FAST_POLL_MS = 200;
const FAST_POLLS_AFTER_ACTION = 10;
const LIST_POLL_MS = 5000;

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

// ---------------------------------------------------------------- HTTP

/** Same-origin URL of an API path, with its query and the page's `code` key. */
function apiUrl(path, params = {}) {
  const url = new URL(`${API_BASE}/${path}`, location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  if (CODE) url.searchParams.set("code", CODE);
  return url.pathname + url.search;
}

async function api(method, path, { params = {}, headers = {}, body } = {}) {
  const init = { method, cache: "no-store", headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.body = body;
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(apiUrl(path, params), init);
  } catch (error) {
    return { status: 0, ok: false, headers: new Headers(), data: `The host did not answer: ${error.message}` };
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  return { status: response.status, ok: response.ok, headers: response.headers, data };
}

function errorText(res) {
  const data = res.data;
  let detail = "";
  if (data && typeof data === "object") detail = data.ExceptionMessage || data.Message || data.message || "";
  else if (typeof data === "string") detail = data;
  if (res.status === 0) return detail;
  if (res.status === 401 || res.status === 403) {
    return `The host refused the request (${res.status}). Open this page with ?code=<key> in its address.`;
  }
  return `HTTP ${res.status}${detail ? `: ${detail}` : ""}`;
}

const enc = encodeURIComponent;

// ---------------------------------------------------------------- formatting

/** Milliseconds since the epoch of an API timestamp (fractions longer than ms are cut). */
function parseTime(value) {
  if (!value || typeof value !== "string") return NaN;
  const trimmed = value.replace(/(\.\d{3})\d+/, "$1");
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(trimmed) ? trimmed : `${trimmed}Z`);
}

function formatTime(value, withMs = false) {
  const ms = parseTime(value);
  if (Number.isNaN(ms)) return value ? String(value) : "";
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, withMs ? 23 : 19)}`;
}

function formatDuration(ms) {
  if (!Number.isFinite(ms)) return "";
  const abs = Math.abs(ms);
  const pair = (big, bigUnit, small, smallUnit) => {
    const whole = Math.floor(abs / big);
    const rest = Math.round((abs % big) / small);
    return `${whole} ${bigUnit}${rest ? ` ${rest} ${smallUnit}` : ""}`;
  };
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 60_000) return `${Number((ms / 1000).toFixed(abs < 10_000 ? 2 : 1))} s`;
  if (abs < 3_600_000) return pair(60_000, "min", 1000, "s");
  if (abs < 86_400_000) return pair(3_600_000, "h", 60_000, "min");
  return pair(86_400_000, "d", 3_600_000, "h");
}

function formatJson(value) {
  if (value === undefined || value === null) return "null";
  if (typeof value === "string") {
    // Histories carry serialized JSON as text: show it parsed when it is.
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

/** A value the status API already parsed: text as it is (messages, reasons), anything else as JSON. */
function formatValue(value) {
  if (value === undefined || value === null) return "null";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function timeEl(value, withMs = false) {
  if (!value) return el("span", { class: "muted", text: "—" });
  return el("time", { datetime: value, title: value, text: formatTime(value, withMs) });
}

function statusBadge(status, testid) {
  return el("span", { class: `badge status-${status || "Unknown"}`, "data-testid": testid, text: status || "?" });
}

function instanceHref(id) {
  return `#/instances/${enc(id)}`;
}

function showNotice(message) {
  const notice = $("#notice");
  notice.textContent = message || "";
  notice.hidden = !message;
}

// ---------------------------------------------------------------- routing

const views = { list: $("#view-list"), instance: $("#view-instance"), entities: $("#view-entities") };
let viewGeneration = 0;
let pollTimer = null;

function stopPolling() {
  if (pollTimer !== null) clearTimeout(pollTimer);
  pollTimer = null;
}

function schedule(fn, ms) {
  stopPolling();
  pollTimer = setTimeout(fn, ms);
}

function showView(name) {
  for (const [key, node] of Object.entries(views)) node.hidden = key !== name;
  for (const link of $$("[data-nav]")) {
    const current = link.dataset.nav === (name === "entities" ? "entities" : "instances");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

let routed = false;

/** After the first view, move focus to the new view's heading, so keyboard and reader users follow. */
function focusHeading(name) {
  if (routed) $("h2", views[name]).focus({ preventScroll: false });
  routed = true;
}

function route() {
  viewGeneration += 1;
  stopPolling();
  showNotice("");
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  if (parts[0] === "instances" && parts.length > 1 && parts[1]) {
    showView("instance");
    openInstance(decodeURIComponent(parts.slice(1).join("/")));
    focusHeading("instance");
  } else if (parts[0] === "entities") {
    showView("entities");
    document.title = "Entities · Durable Functions monitor";
    loadEntities();
    focusHeading("entities");
  } else {
    showView("list");
    document.title = "Durable Functions monitor";
    loadList();
    focusHeading("list");
  }
}

// ---------------------------------------------------------------- instance list

const list = { tokens: [""], page: 0, next: "", filters: null };

function readFilters() {
  const form = $("#filters");
  const data = new FormData(form);
  const utc = (value) => (value ? `${value.length === 16 ? `${value}:00` : value}Z` : "");
  return {
    statuses: data.getAll("status"),
    prefix: String(data.get("prefix") || "").trim(),
    name: String(data.get("name") || "").trim().toLowerCase(),
    from: utc(String(data.get("from") || "")),
    to: utc(String(data.get("to") || "")),
    top: String(data.get("top") || "25"),
  };
}

async function loadList() {
  const generation = viewGeneration;
  const filters = list.filters || (list.filters = readFilters());
  const token = list.tokens[list.page] || "";
  const summary = $("#list-summary");
  summary.textContent = "Loading…";
  $("#instance-table").setAttribute("aria-busy", "true");
  const res = await api("GET", "instances", {
    params: {
      top: filters.top,
      instanceIdPrefix: filters.prefix,
      runtimeStatus: filters.statuses.join(","),
      createdTimeFrom: filters.from,
      createdTimeTo: filters.to,
    },
    headers: token ? { "x-ms-continuation-token": token } : {},
  });
  if (generation !== viewGeneration) return;
  $("#instance-table").removeAttribute("aria-busy");
  const rows = $("#instance-rows");
  if (!res.ok || !Array.isArray(res.data)) {
    rows.replaceChildren();
    summary.textContent = "";
    showNotice(`Could not list instances. ${errorText(res)}`);
    return;
  }
  showNotice("");
  list.next = res.headers.get("x-ms-continuation-token") || "";
  const shown = filters.name
    ? res.data.filter((item) => String(item.name || "").toLowerCase().includes(filters.name))
    : res.data;
  rows.replaceChildren(
    ...shown.map((item) =>
      el(
        "tr",
        { "data-testid": "instance-row", "data-instance-id": item.instanceId, "data-status": item.runtimeStatus },
        el(
          "td",
          { class: "mono" },
          el("a", { href: instanceHref(item.instanceId), "data-testid": "instance-link", text: item.instanceId }),
        ),
        el("td", { "data-testid": "instance-row-name", text: item.name || "" }),
        el("td", {}, statusBadge(item.runtimeStatus, "instance-row-status")),
        el("td", {}, timeEl(item.createdTime)),
        el("td", {}, timeEl(item.lastUpdatedTime)),
      ),
    ),
  );
  if (!shown.length) {
    rows.append(
      el("tr", { class: "empty" }, el("td", { colspan: "5", text: "No instances match these filters." })),
    );
  }
  const hidden = res.data.length - shown.length;
  summary.textContent =
    `${shown.length} instance${shown.length === 1 ? "" : "s"} on page ${list.page + 1}` +
    (hidden ? ` (${hidden} hidden by the name filter)` : "") +
    (list.next ? "; more on the next page." : ".");
  $("#page-label").textContent = `Page ${list.page + 1}`;
  $("#page-prev").disabled = list.page === 0;
  $("#page-next").disabled = !list.next;
  if ($("#list-auto").checked) schedule(loadList, LIST_POLL_MS);
}

function restartList() {
  list.filters = readFilters();
  list.tokens = [""];
  list.page = 0;
  loadList();
}

$("#filters").addEventListener("submit", (event) => {
  event.preventDefault();
  restartList();
});
$("#filters").addEventListener("reset", () => setTimeout(restartList, 0));
$("#list-refresh").addEventListener("click", () => loadList());
$("#list-auto").addEventListener("change", (event) => {
  if (event.target.checked) schedule(loadList, LIST_POLL_MS);
  else stopPolling();
});
$("#page-next").addEventListener("click", () => {
  if (!list.next) return;
  list.tokens = list.tokens.slice(0, list.page + 1);
  list.tokens.push(list.next);
  list.page += 1;
  loadList();
});
$("#page-prev").addEventListener("click", () => {
  if (list.page === 0) return;
  list.page -= 1;
  loadList();
});

// ---------------------------------------------------------------- timeline

/** Bars for activities, sub-orchestrations and timers (and marks for events), computed from history. */
export function computeTimeline(events, runtimeStatus, nowMs = Date.now()) {
  const t = (event, key = "Timestamp") => parseTime(event[key]);
  const started = events.find((e) => e.EventType === "ExecutionStarted");
  const stamps = events.map((e) => t(e)).filter((v) => !Number.isNaN(v));
  const origin = started ? t(started) : Math.min(...stamps);
  const finished = events.find((e) => e.EventType === "ExecutionCompleted");
  const running = !TERMINAL.has(runtimeStatus);
  const end = finished ? t(finished) : running ? Math.max(nowMs, ...stamps) : Math.max(...stamps);
  const open = running ? "pending" : "cancelled"; // work that never finished
  const bars = [];
  const firedUsed = new Set();
  events.forEach((event, index) => {
    const type = event.EventType;
    if (type === "TaskCompleted" || type === "TaskFailed") {
      const start = Number.isNaN(t(event, "ScheduledTime")) ? t(event) : t(event, "ScheduledTime");
      bars.push({
        kind: "activity",
        name: event.FunctionName || "activity",
        start,
        end: t(event),
        state: type === "TaskFailed" ? "failed" : "completed",
      });
    } else if (type === "TaskScheduled") {
      bars.push({ kind: "activity", name: event.Name || "activity", start: t(event), end, state: open });
    } else if (type === "SubOrchestrationInstanceCompleted" || type === "SubOrchestrationInstanceFailed") {
      const start = Number.isNaN(t(event, "ScheduledTime")) ? t(event) : t(event, "ScheduledTime");
      bars.push({
        kind: "suborchestration",
        name: event.FunctionName || "sub-orchestration",
        start,
        end: t(event),
        state: type.endsWith("Failed") ? "failed" : "completed",
      });
    } else if (type === "SubOrchestrationInstanceCreated") {
      bars.push({
        kind: "suborchestration",
        name: event.Name || "sub-orchestration",
        instanceId: event.InstanceId,
        start: t(event),
        end,
        state: open,
      });
    } else if (type === "TimerCreated") {
      const fireAt = t(event, "FireAt");
      const firedIndex = events.findIndex(
        (other, i) =>
          i > index && !firedUsed.has(i) && other.EventType === "TimerFired" && t(other, "FireAt") === fireAt,
      );
      if (firedIndex >= 0) firedUsed.add(firedIndex);
      const state = firedIndex >= 0 ? "completed" : open;
      bars.push({
        kind: "timer",
        name: `Timer → ${formatTime(event.FireAt, true).slice(11)}`,
        start: t(event),
        end: Number.isNaN(fireAt) ? end : state === "cancelled" ? Math.min(fireAt, end) : fireAt,
        state,
      });
    } else if (type === "EventRaised") {
      bars.push({ kind: "event", name: `Event ${event.Name || ""}`.trim(), start: t(event), end: t(event), state: "completed" });
    }
  });
  const last = Math.max(end, ...bars.map((b) => b.end).filter((v) => !Number.isNaN(v)));
  return { origin, end: last, total: Math.max(last - origin, 1), bars };
}

function renderTimeline(events, runtimeStatus) {
  const container = $("#timeline");
  const { origin, total, bars } = computeTimeline(events, runtimeStatus);
  if (!bars.length) {
    container.replaceChildren(
      el("p", { class: "muted", "data-testid": "timeline-empty", text: "No activities, timers or sub-orchestrations yet." }),
    );
    return;
  }
  const pct = (ms) => `${Math.min(Math.max(((ms - origin) / total) * 100, 0), 100)}%`;
  const axis = el(
    "div",
    { class: "tl-axis", "aria-hidden": "true" },
    el("span", { class: "tl-label" }),
    el(
      "span",
      { class: "tl-track" },
      [0, 0.25, 0.5, 0.75, 1].map((f) => {
        const tick = el("span", { class: "tl-tick", text: f === 0 ? "0" : formatDuration(total * f) });
        tick.style.left = `${f * 100}%`;
        return tick;
      }),
    ),
    el("span", { class: "tl-dur" }),
  );
  const stateText = { completed: "completed", failed: "failed", pending: "still running", cancelled: "never finished" };
  const rows = bars.map((bar) => {
    const duration = bar.end - bar.start;
    const fill = el("span", { class: `tl-bar kind-${bar.kind} state-${bar.state}` });
    fill.style.left = pct(bar.start);
    fill.style.width = `calc(${pct(bar.end)} - ${pct(bar.start)})`;
    const label = bar.name;
    const described = `${bar.kind === "suborchestration" ? "sub-orchestration" : bar.kind}, ${stateText[bar.state]}, ` +
      `started at +${formatDuration(bar.start - origin)}` + (bar.kind === "event" ? "" : `, took ${formatDuration(duration)}`);
    return el(
      "li",
      {
        class: "tl-row",
        "data-testid": "timeline-bar",
        "data-kind": bar.kind,
        "data-state": bar.state,
        title: `${label}: ${described}`,
      },
      el("span", { class: "tl-label", text: label }),
      el("span", { class: "tl-track" }, fill, el("span", { class: "visually-hidden", text: ` ${described}` })),
      el("span", { class: "tl-dur", "aria-hidden": "true", text: bar.kind === "event" ? "" : formatDuration(duration) }),
    );
  });
  container.replaceChildren(axis, el("ol", { class: "tl-rows", "aria-label": "Timeline" }, rows));
}

// ---------------------------------------------------------------- one instance

const current = { id: null, status: null, historySig: "", purged: false, fastPolls: 0 };
const DETAIL_KEYS = ["Input", "Result", "Reason", "Details", "FireAt", "InstanceId", "OrchestrationStatus"];

function renderHistory(events) {
  const started = events.find((e) => e.EventType === "ExecutionStarted");
  const origin = started ? parseTime(started.Timestamp) : NaN;
  const rows = events.map((event, index) => {
    const details = el("td", { class: "details" });
    for (const key of DETAIL_KEYS) {
      if (!(key in event) || event[key] === null || event[key] === undefined) continue;
      const text = key === "FireAt" ? formatTime(event[key], true) : formatJson(event[key]);
      const long = text.length > 80 || text.includes("\n");
      const preview = text.replace(/\s+/g, " ");
      details.append(
        long
          ? el(
              "details",
              {},
              el("summary", {}, el("b", { text: `${key}: ` }), el("code", { text: `${preview.slice(0, 70)}…` })),
              el("pre", { text }),
            )
          : el("div", {}, el("b", { text: `${key}: ` }), el("code", { text })),
      );
    }
    const elapsed = parseTime(event.Timestamp) - origin;
    const failed = /Failed|Terminated/.test(event.EventType) || event.OrchestrationStatus === "Failed";
    return el(
      "tr",
      { "data-testid": "history-row", "data-event-type": event.EventType, class: failed ? "failed" : "" },
      el("td", { class: "num", text: String(index + 1) }),
      el("td", { class: "event-type", text: event.EventType }),
      el("td", {}, timeEl(event.Timestamp, true)),
      el("td", { class: "num", text: Number.isNaN(elapsed) ? "" : `+${formatDuration(elapsed)}` }),
      el("td", { text: event.FunctionName || event.Name || "" }),
      details,
    );
  });
  if (!rows.length) rows.push(el("tr", { class: "empty" }, el("td", { colspan: "6", text: "No history yet." })));
  $("#history-rows").replaceChildren(...rows);
}

function setActionState(status) {
  const terminal = TERMINAL.has(status);
  const enabled = {
    terminate: !terminal,
    suspend: status === "Running" || status === "Pending",
    resume: status === "Suspended",
    rewind: status === "Failed",
    restart: true,
    purge: true,
  };
  for (const button of $$("[data-action]")) button.disabled = !enabled[button.dataset.action];
  $("#raise-form button[type=submit]").disabled = terminal;
}

async function loadInstance() {
  const generation = viewGeneration;
  const id = current.id;
  const res = await api("GET", `instances/${enc(id)}`, {
    params: { showHistory: "true", showHistoryOutput: "true", showInput: "true" },
  });
  if (generation !== viewGeneration || id !== current.id) return;
  const polling = $("#instance-polling");
  if (res.status === 404) {
    $("#instance-body").hidden = true;
    const missing = $("#instance-missing");
    missing.hidden = false;
    missing.textContent = current.purged
      ? `Purged: instance "${id}" and its history were deleted.`
      : `No instance with ID "${id}" was found. It may have been purged.`;
    polling.textContent = "";
    return;
  }
  if (!(res.status === 200 || res.status === 202 || res.status === 500) || !res.data || typeof res.data !== "object") {
    showNotice(`Could not read the instance. ${errorText(res)}`);
    schedule(loadInstance, INSTANCE_POLL_MS * 5);
    return;
  }
  showNotice("");
  $("#instance-missing").hidden = true;
  $("#instance-body").hidden = false;
  const data = res.data;
  current.status = data.runtimeStatus;
  document.title = `${data.name || id} (${data.runtimeStatus}) · Durable Functions monitor`;
  $("#instance-name").textContent = data.name || "";
  const badge = $("#instance-status");
  badge.className = `badge status-${data.runtimeStatus}`;
  badge.textContent = data.runtimeStatus;
  $("#instance-created").replaceChildren(timeEl(data.createdTime));
  $("#instance-updated").replaceChildren(timeEl(data.lastUpdatedTime));
  $("#instance-input").textContent = formatValue(data.input);
  $("#instance-output").textContent = formatValue(data.output);
  $("#instance-custom").textContent = formatValue(data.customStatus);
  const events = Array.isArray(data.historyEvents) ? data.historyEvents : [];
  const sig = `${data.runtimeStatus}|${data.lastUpdatedTime}|${events.length}`;
  const running = !TERMINAL.has(data.runtimeStatus);
  if (sig !== current.historySig || running) {
    // Re-render only on change (keeps open <details>), except the running bars that grow with time.
    if (sig !== current.historySig) renderHistory(events);
    renderTimeline(events, data.runtimeStatus);
    current.historySig = sig;
  }
  setActionState(data.runtimeStatus);
  if (current.fastPolls > 0) {
    // Just after an action: the host applies it asynchronously, so look again soon, even if finished.
    current.fastPolls -= 1;
    schedule(loadInstance, FAST_POLL_MS);
  } else if (running) {
    schedule(loadInstance, document.hidden ? INSTANCE_POLL_MS * 5 : INSTANCE_POLL_MS);
  }
  polling.textContent = running ? "Refreshing every second while the instance is not finished." : "";
}

function openInstance(id) {
  current.id = id;
  current.status = null;
  current.historySig = "";
  current.purged = false;
  current.fastPolls = 0;
  $("#instance-id").textContent = id;
  $("#action-result").replaceChildren();
  for (const field of ["#action-reason", "#event-name", "#event-data"]) $(field).value = "";
  $("#purge-confirm").hidden = true;
  $("#instance-missing").hidden = true;
  for (const node of ["#instance-name", "#instance-created", "#instance-updated", "#instance-input", "#instance-output", "#instance-custom"]) {
    $(node).replaceChildren();
  }
  $("#instance-status").textContent = "…";
  $("#instance-status").className = "badge";
  $("#history-rows").replaceChildren();
  $("#timeline").replaceChildren();
  loadInstance();
}

function actionResult(message, { error = false, link = null } = {}) {
  const result = $("#action-result");
  result.classList.toggle("error", error);
  result.replaceChildren(message, link ? " " : "", link || "");
}

const ACTION_LABELS = {
  terminate: "Terminate",
  suspend: "Suspend",
  resume: "Resume",
  rewind: "Rewind",
  restart: "Restart",
  purge: "Purge",
  raise: "Raise event",
};

async function runAction(kind, request) {
  const id = current.id;
  const buttons = $$(".actions button");
  for (const button of buttons) button.disabled = true;
  $(".actions").setAttribute("aria-busy", "true");
  actionResult(`${ACTION_LABELS[kind]}: sending…`);
  const res = await request(id);
  $(".actions").removeAttribute("aria-busy");
  if (id !== current.id) return;
  for (const button of $$(".actions button:not([data-action])")) button.disabled = false;
  if (res.ok) {
    if (kind === "purge") {
      current.purged = true;
      const count = res.data && typeof res.data === "object" ? res.data.instancesDeleted : undefined;
      actionResult(`Purged ${count ?? 1} instance${count === 1 || count === undefined ? "" : "s"}.`);
    } else if (kind === "restart" && res.data && typeof res.data === "object" && res.data.id) {
      const link = el("a", { href: instanceHref(res.data.id), "data-testid": "restarted-link", text: res.data.id });
      actionResult(
        res.data.id === id ? "Restarted with the same instance ID." : "Restarted as a new instance:",
        { link: res.data.id === id ? null : link },
      );
    } else {
      actionResult(`${ACTION_LABELS[kind]} accepted (HTTP ${res.status}); status refreshed below.`);
    }
  } else if (res.status === 404 && (kind === "rewind" || kind === "restart")) {
    actionResult(
      `${ACTION_LABELS[kind]} answered 404: this host may not offer it yet, or the instance no longer exists.`,
      { error: true },
    );
  } else if (res.status === 404) {
    actionResult(`${ACTION_LABELS[kind]} answered 404: the instance was not found.`, { error: true });
  } else {
    actionResult(`${ACTION_LABELS[kind]} failed. ${errorText(res)}`, { error: true });
  }
  viewGeneration += 1; // drop any poll still in flight, then read the new state
  stopPolling();
  current.fastPolls = kind === "purge" ? 0 : FAST_POLLS_AFTER_ACTION;
  await loadInstance();
}

const ACTIONS = {
  terminate: (id) => api("POST", `instances/${enc(id)}/terminate`, { params: { reason: $("#action-reason").value } }),
  suspend: (id) => api("POST", `instances/${enc(id)}/suspend`, { params: { reason: $("#action-reason").value } }),
  resume: (id) => api("POST", `instances/${enc(id)}/resume`, { params: { reason: $("#action-reason").value } }),
  rewind: (id) => api("POST", `instances/${enc(id)}/rewind`, { params: { reason: $("#action-reason").value } }),
  restart: (id) =>
    api("POST", `instances/${enc(id)}/restart`, {
      params: { restartWithNewInstanceId: String($("#restart-new-id").checked) },
    }),
};

for (const button of $$("[data-action]")) {
  button.addEventListener("click", () => {
    const kind = button.dataset.action;
    if (kind === "purge") {
      $("#purge-confirm").hidden = false;
      $("#purge-yes").focus();
      return;
    }
    runAction(kind, ACTIONS[kind]);
  });
}
$("#purge-no").addEventListener("click", () => {
  $("#purge-confirm").hidden = true;
  $('[data-action="purge"]').focus();
});
$("#purge-yes").addEventListener("click", () => {
  $("#purge-confirm").hidden = true;
  runAction("purge", (id) => api("DELETE", `instances/${enc(id)}`));
});
$("#raise-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("#event-name").value.trim();
  const raw = $("#event-data").value.trim();
  if (!name) {
    actionResult("Give the event a name.", { error: true });
    $("#event-name").focus();
    return;
  }
  if (raw) {
    try {
      JSON.parse(raw);
    } catch (error) {
      actionResult(`Event data is not valid JSON: ${error.message}`, { error: true });
      $("#event-data").focus();
      return;
    }
  }
  runAction("raise", (id) =>
    api("POST", `instances/${enc(id)}/raiseEvent/${enc(name)}`, raw ? { body: raw } : {}),
  );
});
$("#instance-refresh").addEventListener("click", () => {
  viewGeneration += 1;
  stopPolling();
  loadInstance();
});

// ---------------------------------------------------------------- entities

const entities = { tokens: [""], page: 0, next: "", name: "" };

function entityIdentity(item) {
  let id = item.entityId ?? item.EntityId ?? item.id;
  if (typeof id === "string") {
    const match = /^@([^@]*)@(.*)$/.exec(id);
    if (match) return { name: match[1], key: match[2] };
  }
  id = id && typeof id === "object" ? id : item;
  return { name: id.name ?? id.Name ?? id.EntityName ?? "", key: id.key ?? id.Key ?? id.EntityKey ?? "" };
}

function entitiesUnavailable(message) {
  const note = $("#entities-unavailable");
  note.textContent = message;
  note.hidden = false;
  $("#entity-results").hidden = true;
  $("#entity-rows").replaceChildren();
  $("#entity-summary").textContent = "";
  $("#entity-next").disabled = true;
  $("#entity-prev").disabled = entities.page === 0;
}

async function loadEntities() {
  const generation = viewGeneration;
  const token = entities.tokens[entities.page] || "";
  $("#entity-summary").textContent = "Loading…";
  const path = entities.name ? `entities/${enc(entities.name)}` : "entities";
  const res = await api("GET", path, {
    params: { top: "50", fetchState: "false" },
    headers: token ? { "x-ms-continuation-token": token } : {},
  });
  if (generation !== viewGeneration) return;
  if (res.status === 404 || res.status === 405 || res.status === 501) {
    entitiesUnavailable(
      "Entities are not available on this host: the entity endpoints of the HTTP API did not answer " +
        `(HTTP ${res.status}). The Orchestrations tab works as usual.`,
    );
    return;
  }
  const items = Array.isArray(res.data) ? res.data : res.data && Array.isArray(res.data.entities) ? res.data.entities : null;
  if (!res.ok || !items) {
    entitiesUnavailable(`Could not list entities. ${errorText(res)}`);
    return;
  }
  $("#entities-unavailable").hidden = true;
  $("#entity-results").hidden = false;
  entities.next = res.headers.get("x-ms-continuation-token") || "";
  const rows = items.map((item) => {
    const { name, key } = entityIdentity(item);
    return el(
      "tr",
      { "data-testid": "entity-row" },
      el("td", { text: name }),
      el("td", { class: "mono", text: key }),
      el("td", {}, timeEl(item.lastOperationTime ?? item.LastOperationTime)),
      el("td", {}, el("button", { type: "button", "data-testid": "entity-show", onclick: () => showEntity(name, key), text: "Show state" })),
    );
  });
  if (!rows.length) rows.push(el("tr", { class: "empty" }, el("td", { colspan: "4", text: "No entities found." })));
  $("#entity-rows").replaceChildren(...rows);
  $("#entity-summary").textContent = `${items.length} entit${items.length === 1 ? "y" : "ies"} on page ${entities.page + 1}.`;
  $("#entity-page-label").textContent = `Page ${entities.page + 1}`;
  $("#entity-prev").disabled = entities.page === 0;
  $("#entity-next").disabled = !entities.next;
}

async function showEntity(name, key) {
  const box = $("#entity-state");
  box.hidden = false;
  $("#entity-state-id").textContent = `@${name}@${key}`;
  const value = $("#entity-state-value");
  value.textContent = "Loading…";
  const res = await api("GET", `entities/${enc(name)}/${enc(key)}`);
  if (res.ok) value.textContent = formatValue(res.data);
  else if (res.status === 404) value.textContent = "No state: the entity does not exist, or this host does not offer the entity endpoint.";
  else value.textContent = `Could not read the state. ${errorText(res)}`;
}

$("#entity-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  entities.name = String(new FormData(event.target).get("entityName") || "").trim();
  entities.tokens = [""];
  entities.page = 0;
  $("#entity-state").hidden = true;
  loadEntities();
});
$("#entity-next").addEventListener("click", () => {
  if (!entities.next) return;
  entities.tokens = entities.tokens.slice(0, entities.page + 1);
  entities.tokens.push(entities.next);
  entities.page += 1;
  loadEntities();
});
$("#entity-prev").addEventListener("click", () => {
  if (entities.page === 0) return;
  entities.page -= 1;
  loadEntities();
});

// ---------------------------------------------------------------- start

$("[data-skip]").addEventListener("click", (event) => {
  event.preventDefault(); // the fragment is the router's: move focus instead
  $("#main").focus();
});
window.addEventListener("hashchange", route);
document.documentElement.dataset.ready = "true";
route();
