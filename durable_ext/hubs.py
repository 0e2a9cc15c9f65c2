"""The task hubs one host can address: its own (with dispatchers) and, for client bindings that name
another hub (`taskHub`), client-only connections opened on first use."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .app.loader import LoadedApp
from .client import DurableClientService
from .clock import Clock
from .store.base import TaskHubStore


class TaskHubs:
    def __init__(
        self,
        own_hub: str,
        own_client: DurableClientService,
        app: LoadedApp,
        clock: Clock,
        open_other: Callable[[str], TaskHubStore],
    ) -> None:
        self.own_hub = own_hub
        self.own_client = own_client
        self.app = app
        self.clock = clock
        self._open_other = open_other
        self._others: dict[str, DurableClientService] = {}
        self._lock = asyncio.Lock()

    async def client_for(self, hub: str | None) -> DurableClientService:
        if not hub or hub.lower() == self.own_hub.lower():
            return self.own_client
        async with self._lock:
            client = self._others.get(hub.lower())
            if client is None:
                store = self._open_other(hub)
                await store.open()
                # Another hub's app may have other orchestrators: do not check names against ours.
                client = DurableClientService(store, self.app, self.clock, check_names=False)
                self._others[hub.lower()] = client
            return client

    async def close(self) -> None:
        for client in self._others.values():
            await client.store.close()
        self._others.clear()
