"""The Durable Functions HTTP API under /runtime/webhooks/durabletask (also the SDK client's RPC base)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web

from ..client import ClientError, DurableClientService, InstanceNotFoundError
from ..engine.entities import EntityId
from ..engine.history import format_status_time, parse_timestamp
from ..engine.status import RuntimeStatus
from ..store.base import InstanceQuery
from .keys import HostKeys, presented_key
from .request_keys import TRACEPARENT
from .status import parse_stored, status_payload
from .urls import HUB_SEGMENT, RPC_SEGMENT, WEBHOOK_PATH, WebhookUrls

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_RUNNING_FOR_STATUS = {
    RuntimeStatus.RUNNING,
    RuntimeStatus.PENDING,
    RuntimeStatus.CONTINUED_AS_NEW,
    RuntimeStatus.SUSPENDED,
}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers or {}
    )


def _error(status: int, message: str, exc_type: str = "System.ArgumentException") -> web.Response:
    headline = (
        "One or more of the arguments submitted is incorrect"
        if status < 500
        else "Something went wrong while processing your request"
    )
    return _json(
        {"Message": headline, "ExceptionMessage": message, "ExceptionType": exc_type, "StackTrace": None},
        status,
    )


def _query(request: web.Request, name: str) -> str | None:
    """Query keys are case-insensitive in the .NET host."""
    lowered = name.lower()
    for key, value in request.query.items():
        if key.lower() == lowered:
            return value
    return None


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = _query(request, name)
    if value is None or value == "":
        return default
    if value.lower() not in ("true", "false"):
        raise ClientError(f"Query parameter '{name}' must be true or false, got '{value}'.")
    return value.lower() == "true"


def _date(request: web.Request, name: str) -> datetime | None:
    value = _query(request, name)
    if not value:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise ClientError(f"Query parameter '{name}' is not a valid date: '{value}'.") from None


def _seconds(request: web.Request, name: str) -> float | None:
    value = _query(request, name)
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise ClientError(f"Query parameter '{name}' must be a number of seconds, got '{value}'.") from None
    if seconds < 0:
        raise ClientError(f"Query parameter '{name}' must not be negative.")
    return seconds


def _statuses(request: web.Request) -> frozenset[RuntimeStatus]:
    found: set[RuntimeStatus] = set()
    for key, value in request.query.items():
        if key.lower() != "runtimestatus":
            continue
        for name in filter(None, (v.strip() for v in value.split(","))):
            try:
                found.add(RuntimeStatus(name))
            except ValueError:
                valid = ", ".join(s.value for s in RuntimeStatus)
                raise ClientError(f"Unknown runtimeStatus '{name}'. Valid values: {valid}.") from None
    return frozenset(found)


def _parse_json_body(raw: bytes) -> tuple[bool, Any]:
    """(present, value) of an optional JSON body; raises ClientError on malformed JSON."""
    if not raw.strip():
        return False, None
    try:
        return True, json.loads(raw)
    except ValueError as exc:
        raise ClientError(f"Invalid JSON content: {exc}.") from None


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class HubClients(Protocol):
    """Finds the client for a task hub named by a request (None: this host's own hub)."""

    async def client_for(self, hub: str | None) -> DurableClientService: ...


class DurableHttpApi:
    def __init__(self, hubs: HubClients, urls: WebhookUrls, keys: HostKeys) -> None:
        self.hubs = hubs
        self.urls = urls
        self.keys = keys

    def routes(self) -> list[web.RouteDef]:
        """Every route under the public path and, for the SDK's calls, the secret RPC path; both also
        under `taskhubs/{hub}` for clients bound to another task hub."""
        prefixes = [WEBHOOK_PATH, f"{WEBHOOK_PATH}/{HUB_SEGMENT}/{{hub}}"]
        prefixes += [f"{WEBHOOK_PATH}/{RPC_SEGMENT}/{{rpc_token}}{p[len(WEBHOOK_PATH) :]}" for p in prefixes]
        return [route for prefix in prefixes for route in self._routes_under(prefix)]

    def _routes_under(self, p: str) -> list[web.RouteDef]:
        wrap = self._guard
        return [
            web.post(p + "/orchestrators/{function}", wrap(self.start)),
            web.post(p + "/orchestrators/{function}/{instance_id}", wrap(self.start)),
            web.get(p + "/instances", wrap(self.list_instances)),
            web.get(p + "/instances/", wrap(self.list_instances)),
            web.delete(p + "/instances", wrap(self.purge_by)),
            web.delete(p + "/instances/", wrap(self.purge_by)),
            web.get(p + "/instances/{instance_id}", wrap(self.get_status)),
            web.delete(p + "/instances/{instance_id}", wrap(self.purge)),
            web.post(p + "/instances/{instance_id}/terminate", wrap(self.terminate)),
            web.post(p + "/instances/{instance_id}/suspend", wrap(self.suspend)),
            web.post(p + "/instances/{instance_id}/resume", wrap(self.resume)),
            web.post(p + "/instances/{instance_id}/raiseEvent/{event_name}", wrap(self.raise_event)),
            web.post(p + "/instances/{instance_id}/rewind", wrap(self.rewind)),
            web.post(p + "/entities/{name}/{key}", wrap(self.signal_entity)),
            web.delete(p + "/entities/{name}/{key}", wrap(self.signal_entity)),
            web.get(p + "/entities/{name}/{key}", wrap(self.read_entity)),
            web.get(p + "/entities", wrap(self.list_entities)),
            web.get(p + "/entities/", wrap(self.list_entities)),
            web.get(p + "/entities/{name}", wrap(self.list_entities)),
            web.post(p + "/entities", wrap(self.clean_entities)),
            web.post(p + "/instances/{instance_id}/restart", wrap(self.restart)),
        ]

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self._authorized(request):
                return _json(
                    {"Message": "Unauthorized: pass the system or master key as code= or x-functions-key"},
                    401,
                )
            try:
                return await handler(request)
            except InstanceNotFoundError:
                return web.Response(status=404)
            except ClientError as exc:
                return _error(exc.status, str(exc))

        return guarded

    def _authorized(self, request: web.Request) -> bool:
        token = request.match_info.get("rpc_token")
        if token is not None:
            return self.urls.rpc_token is not None and hmac.compare_digest(token, self.urls.rpc_token)
        return self.keys.allows_webhook(presented_key(request))

    async def _client(self, request: web.Request) -> DurableClientService:
        return await self.hubs.client_for(request.match_info.get("hub") or _query(request, "taskHub") or None)

    def _urls_for(self, request: web.Request) -> WebhookUrls:
        # Links point back at the origin the caller used, as the .NET host does, for the hub it named.
        hub = request.match_info.get("hub") or _query(request, "taskHub") or self.urls.hub_name
        return replace(self.urls, origin=str(request.url.origin()), hub_name=hub)

    async def start(self, request: web.Request) -> web.StreamResponse:
        present, value = _parse_json_body(await request.read())
        instance_id = await (await self._client(request)).start_new(
            request.match_info["function"],
            request.match_info.get("instance_id"),
            _compact(value) if present else None,
            trace_parent=request.get(TRACEPARENT),
        )
        return await self._check_status_or_wait(request, instance_id)

    async def _check_status_or_wait(self, request: web.Request, instance_id: str) -> web.StreamResponse:
        """202 with the management links; with `timeout`, first wait that long for completion (200)."""
        timeout = _seconds(request, "timeout")
        if timeout is not None:
            interval = _seconds(request, "pollingInterval") or 1.0
            state = await (await self._client(request)).wait_for_terminal(instance_id, timeout, interval)
            if state is not None:
                return _json(status_payload(state), 200)
        payload = self._urls_for(request).check_status_payload(instance_id)
        headers = {"Location": payload["statusQueryGetUri"], "Retry-After": "10"}
        return _json(payload, 202, headers)

    async def get_status(self, request: web.Request) -> web.StreamResponse:
        instance_id = request.match_info["instance_id"]
        state = await (await self._client(request)).get_instance(instance_id)
        if state is None:
            return web.Response(status=404)
        show_history = _flag(request, "showHistory", False)
        history = await (await self._client(request)).get_history(instance_id) if show_history else None
        body = status_payload(
            state,
            show_input=_flag(request, "showInput", True),
            history=history,
            show_history_output=_flag(request, "showHistoryOutput", False),
        )
        if state.runtime_status in _RUNNING_FOR_STATUS:
            return _json(body, 202, {"Location": str(request.url), "Retry-After": "5"})
        if state.runtime_status == RuntimeStatus.FAILED and _flag(
            request, "returnInternalServerErrorOnFailure", False
        ):
            return _json(body, 500)
        return _json(body, 200)

    async def list_instances(self, request: web.Request) -> web.StreamResponse:
        page_size = self._page_size(request)
        query = InstanceQuery(
            created_from=_date(request, "createdTimeFrom"),
            created_to=_date(request, "createdTimeTo"),
            statuses=_statuses(request),
            instance_id_prefix=_query(request, "instanceIdPrefix") or None,
            page_size=page_size,
            continuation_token=request.headers.get("x-ms-continuation-token") or None,
        )
        try:
            page = await (await self._client(request)).list_instances(query)
        except ValueError as exc:
            raise ClientError(str(exc)) from None
        show_input = _flag(request, "showInput", False)
        body = [status_payload(s, show_input=show_input) for s in page.instances]
        return _json(body, 200, {"x-ms-continuation-token": page.continuation_token or ""})

    async def purge(self, request: web.Request) -> web.StreamResponse:
        deleted = await (await self._client(request)).purge(request.match_info["instance_id"])
        if deleted == 0:
            return web.Response(status=404)
        return _json({"instancesDeleted": deleted})

    async def purge_by(self, request: web.Request) -> web.StreamResponse:
        created_from = _date(request, "createdTimeFrom")
        if created_from is None:
            return _json("Please provide value for 'createdTimeFrom' parameter.", 400)
        deleted = await (await self._client(request)).purge_by(
            created_from, _date(request, "createdTimeTo"), _statuses(request)
        )
        if deleted == 0:
            return web.Response(status=404)
        return _json({"instancesDeleted": deleted})

    async def terminate(self, request: web.Request) -> web.StreamResponse:
        await (await self._client(request)).terminate(
            request.match_info["instance_id"], _query(request, "reason")
        )
        return web.Response(status=202)

    async def suspend(self, request: web.Request) -> web.StreamResponse:
        await (await self._client(request)).suspend(
            request.match_info["instance_id"], _query(request, "reason")
        )
        return web.Response(status=202)

    async def resume(self, request: web.Request) -> web.StreamResponse:
        await (await self._client(request)).resume(
            request.match_info["instance_id"], _query(request, "reason")
        )
        return web.Response(status=202)

    async def rewind(self, request: web.Request) -> web.StreamResponse:
        await (await self._client(request)).rewind(
            request.match_info["instance_id"], _query(request, "reason")
        )
        return web.Response(status=202)

    async def restart(self, request: web.Request) -> web.StreamResponse:
        new_id = _flag(request, "restartWithNewInstanceId", True)
        instance_id = await (await self._client(request)).restart(
            request.match_info["instance_id"], new_instance_id=new_id
        )
        return await self._check_status_or_wait(request, instance_id)

    def _entity(self, request: web.Request) -> EntityId:
        key = request.match_info["key"]
        try:
            return EntityId.of(request.match_info["name"], "" if key == "$" else key)
        except ValueError as exc:
            raise ClientError(str(exc)) from None

    async def signal_entity(self, request: web.Request) -> web.StreamResponse:
        entity = self._entity(request)
        operation = "delete" if request.method == "DELETE" else (_query(request, "op") or "")
        raw = await request.read()
        input_text: str | None = None
        if raw.strip():
            if request.content_type == "application/json":
                _, value = _parse_json_body(raw)
            else:
                value = raw.decode("utf-8", errors="replace")
            # The SDK's entity get_input() decodes twice, so the operation input is JSON text inside a
            # JSON string. The SDK client already sends JSON text; a plain JSON value (`5`, `{...}`) is
            # wrapped the same way so it arrives intact (Azure passes it through and get_input fails).
            input_text = json.dumps(value if isinstance(value, str) else _compact(value))
        scheduled = _date(request, "scheduledTime")
        await (await self._client(request)).signal_entity(entity, operation, input_text, scheduled)
        return web.Response(status=202)

    async def read_entity(self, request: web.Request) -> web.StreamResponse:
        state = await (await self._client(request)).read_entity(self._entity(request))
        if state is None:
            return web.Response(status=404)
        return web.Response(status=200, text=state.state or "null", content_type="application/json")

    async def list_entities(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name")
        query = InstanceQuery(
            created_from=_date(request, "lastOperationTimeFrom"),
            created_to=_date(request, "lastOperationTimeTo"),
            instance_id_prefix=f"@{name.lower()}@" if name else "@",
            page_size=self._page_size(request),
            continuation_token=request.headers.get("x-ms-continuation-token") or None,
        )
        fetch_state = _flag(request, "fetchState", False)
        try:
            found, token = await (await self._client(request)).list_entities(query)
        except ValueError as exc:
            raise ClientError(str(exc)) from None
        body = []
        for row, scheduler in found:
            entity = EntityId.parse(row.instance_id)
            item: dict[str, Any] = {
                "entityId": {"name": entity.name, "key": entity.key},
                "lastOperationTime": format_status_time(row.last_updated_time),
            }
            if fetch_state:
                item["state"] = parse_stored(scheduler.state)
            body.append(item)
        return _json(body, 200, {"x-ms-continuation-token": token or ""})

    async def clean_entities(self, request: web.Request) -> web.StreamResponse:
        removed = await (await self._client(request)).clean_entity_storage()
        return _json({"numberOfEmptyEntitiesRemoved": removed})

    def _page_size(self, request: web.Request) -> int:
        top = _query(request, "top")
        try:
            page_size = int(top) if top else 100
        except ValueError:
            raise ClientError(f"Query parameter 'top' must be a whole number, got '{top}'.") from None
        if page_size < 1:
            raise ClientError("Query parameter 'top' must be at least 1.")
        return page_size

    async def raise_event(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if raw.strip() and request.content_type != "application/json":
            return _json({"Message": "Only application/json request content is supported"}, 400)
        present, value = _parse_json_body(raw)
        await (await self._client(request)).raise_event(
            request.match_info["instance_id"],
            request.match_info["event_name"],
            _compact(value) if present else None,
        )
        return web.Response(status=202)
