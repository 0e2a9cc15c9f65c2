"""Admin routes: host status, and putting or peeking messages on the app's queues (master key when keys
are on), e.g. `curl -X POST localhost:7071/admin/queues/start-queue/messages -d 'Tokyo'`."""

from __future__ import annotations

from aiohttp import web

from ..store.app_queues import AppQueues, check_queue_name
from .keys import HostKeys, presented_key


class AdminApi:
    def __init__(self, queues: AppQueues | None, keys: HostKeys) -> None:
        self.queues = queues
        self.keys = keys

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/admin/host/status", self.host_status),
            web.post("/admin/queues/{queue}/messages", self.put_message),
            web.get("/admin/queues/{queue}/messages", self.peek_messages),
        ]

    async def host_status(self, request: web.Request) -> web.Response:
        return web.json_response({"state": "Running"})

    def _check(self, request: web.Request) -> tuple[AppQueues, str]:
        if not self.keys.allows_webhook(presented_key(request)) or (
            self.keys.enabled and presented_key(request) != self.keys.master_key
        ):
            raise web.HTTPUnauthorized(
                text='{"Message": "the master key is required"}', content_type="application/json"
            )
        if self.queues is None:
            raise web.HTTPNotFound(
                text='{"Message": "this store has no app queues"}', content_type="application/json"
            )
        queue = request.match_info["queue"]
        try:
            return self.queues, check_queue_name(queue)
        except ValueError as exc:
            raise web.HTTPBadRequest(
                text=f'{{"Message": "{exc}"}}', content_type="application/json"
            ) from None

    async def put_message(self, request: web.Request) -> web.Response:
        queues, queue = self._check(request)
        body = await request.text()
        message_id = await queues.put(queue, body)
        return web.json_response({"id": message_id, "queue": queue}, status=201)

    async def peek_messages(self, request: web.Request) -> web.Response:
        queues, queue = self._check(request)
        messages = await queues.peek(queue)
        return web.json_response(
            [{"id": m.id, "body": m.body, "dequeueCount": m.dequeue_count} for m in messages]
        )
