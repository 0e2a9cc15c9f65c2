"""URLs the host hands out: the durableClient binding payload and check-status links (sdk-protocol §5.1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
INSTANCE_PLACEHOLDER = "INSTANCEID"
RPC_SEGMENT = "_rpc"
HUB_SEGMENT = "taskhubs"


@dataclass(frozen=True)
class WebhookUrls:
    """Where this host serves the durable HTTP API, and the query every link must carry."""

    origin: str  # e.g. http://127.0.0.1:7071
    hub_name: str
    connection_name: str = "Storage"
    required_query: str = ""  # e.g. "code=<system key>", without '?'
    rpc_token: str | None = None  # when keys are on, the SDK's own calls use a secret path instead

    @property
    def base_url(self) -> str:
        return self.origin.rstrip("/") + WEBHOOK_PATH

    def rpc_base_url(self, hub: str | None = None) -> str:
        """Where the SDK's client sends its calls. The SDK concatenates paths onto it (so it ends in
        `/`) and names no task hub on most calls, so a client bound to another hub gets a hub path."""
        url = self.base_url
        if self.rpc_token:
            url += f"/{RPC_SEGMENT}/{self.rpc_token}"
        if hub and hub.lower() != self.hub_name.lower():
            url += f"/{HUB_SEGMENT}/{quote(hub, safe='')}"
        return url + "/"

    def _suffix(self, *, hub: str, connection: str) -> str:
        query = f"taskHub={quote(hub)}&connection={quote(connection)}"
        return query + (f"&{self.required_query}" if self.required_query else "")

    def management_urls(
        self, instance_id: str, *, hub: str | None = None, connection: str | None = None
    ) -> dict[str, str]:
        base = f"{self.base_url}/instances/{quote(instance_id, safe='')}"
        q = self._suffix(hub=hub or self.hub_name, connection=connection or self.connection_name)
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{base}?{q}",
            "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{q}",
            "terminatePostUri": f"{base}/terminate?reason={{text}}&{q}",
            "rewindPostUri": f"{base}/rewind?reason={{text}}&{q}",
            "purgeHistoryDeleteUri": f"{base}?{q}",
            "restartPostUri": f"{base}/restart?{q}",
            "suspendPostUri": f"{base}/suspend?reason={{text}}&{q}",
            "resumePostUri": f"{base}/resume?reason={{text}}&{q}",
        }

    def check_status_payload(self, instance_id: str) -> dict[str, str]:
        """The body of a 202 from a start: the .NET host's subset of the management URLs."""
        urls = self.management_urls(instance_id)
        keys = (
            "id",
            "statusQueryGetUri",
            "sendEventPostUri",
            "terminatePostUri",
            "purgeHistoryDeleteUri",
            "restartPostUri",
            "suspendPostUri",
            "resumePostUri",
        )
        return {k: urls[k] for k in keys}

    def client_binding_json(self, *, task_hub: str | None = None, connection_name: str | None = None) -> str:
        """What a `durableClient` / `orchestrationClient` parameter receives."""
        hub = task_hub or self.hub_name
        required = f"&{self.required_query}" if self.required_query else ""
        create = f"{self.base_url}/orchestrators/{{functionName}}[/{{instanceId}}]"
        payload = {
            "taskHubName": hub,
            "connectionName": connection_name,
            "creationUrls": {
                "createNewInstancePostUri": f"{create}?{self.required_query}"
                if self.required_query
                else create,
                "createAndWaitOnNewInstancePostUri": (
                    f"{create}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}{required}"
                ),
            },
            "managementUrls": self.management_urls(INSTANCE_PLACEHOLDER, hub=hub, connection=connection_name),
            "baseUrl": self.base_url,
            "requiredQueryStringParameters": self.required_query,
            "rpcBaseUrl": self.rpc_base_url(hub),
            "httpBaseUrl": None,
        }
        return json.dumps(payload)
