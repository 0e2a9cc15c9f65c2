"""How many HTTP requests the Azure Storage store sends: a pipeline policy that counts them.

Every client the store makes carries a `CountingPolicy`, which adds one to a process-wide `RequestTally`
per request it sees (retries included: each try is a request the account has to serve). The benchmark
reads the tally before and after a workload to get storage requests per activity step.

A block can be tallied under a label of its own (`labelled("probe")`): the bench polls for completion
through the same store, and those reads are its own, not the host's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

STORE = ""  # the label of requests made outside any `labelled(...)` block

# Asyncio tasks copy the context they start in, so a label follows the work a block starts.
_label: ContextVar[str] = ContextVar("durable_ext_request_label", default=STORE)


class RequestKind(NamedTuple):
    label: str
    service: str  # "table", "queue", "blob"
    method: str  # "GET", "PUT", ...


@dataclass(frozen=True)
class RequestCounts:
    """A copy of the tally at one moment; subtract two to get what was sent in between."""

    by_kind: Mapping[RequestKind, int] = field(default_factory=dict)

    def total(self, label: str | None = STORE) -> int:
        """Requests under `label` (None: under any label)."""
        return sum(n for kind, n in self.by_kind.items() if label is None or kind.label == label)

    def __sub__(self, earlier: RequestCounts) -> RequestCounts:
        kinds = {kind: n - earlier.by_kind.get(kind, 0) for kind, n in self.by_kind.items()}
        return RequestCounts({kind: n for kind, n in kinds.items() if n})

    def as_dict(self, label: str | None = STORE) -> dict[str, int]:
        """{"queue GET": 12, "table PUT": 3, ...} for one label (None: all, prefixed "label:")."""
        out: dict[str, int] = {}
        for kind, n in sorted(self.by_kind.items()):
            if label is None or kind.label == label:
                prefix = f"{kind.label}:" if label is None and kind.label else ""
                out[f"{prefix}{kind.service} {kind.method}"] = n
        return out


class RequestTally:
    """Counts by label, service and method; one dict increment per request."""

    def __init__(self) -> None:
        self._counts: Counter[RequestKind] = Counter()

    def add(self, service: str, method: str) -> None:
        self._counts[RequestKind(_label.get(), service, method)] += 1

    def snapshot(self) -> RequestCounts:
        return RequestCounts(dict(self._counts))


REQUESTS = RequestTally()  # every store client in this process counts here


@contextmanager
def labelled(label: str) -> Iterator[None]:
    """Tally requests sent inside this block (and by tasks it starts) under `label`."""
    token = _label.set(label)
    try:
        yield
    finally:
        _label.reset(token)


class CountingPolicy(SansIOHTTPPolicy[Any, Any]):
    """Adds each request that passes through to a tally, under the client's service name."""

    def __init__(self, service: str, tally: RequestTally = REQUESTS) -> None:
        super().__init__()
        self.service = service
        self.tally = tally

    def on_request(self, request: PipelineRequest[Any]) -> None:
        self.tally.add(self.service, request.http_request.method)


def counted(service: str, tally: RequestTally = REQUESTS) -> dict[str, Any]:
    """Keyword arguments that make a table, queue or blob service client count its requests.

    The three SDKs build their pipelines differently (tables rebuilds one per table client; queues and
    blobs take no extra policies), but all three run a `raw_request_hook` after their retry policy and
    share it with the clients they hand out, so the policy's `on_request` goes in there.
    """
    return {"raw_request_hook": CountingPolicy(service, tally).on_request}
