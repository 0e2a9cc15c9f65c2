"""Logs each invocation the way `func start` does: function, id, outcome and duration."""

from __future__ import annotations

import logging
from concurrent.futures import Executor

from ..app.spec import InvocationRequest, InvocationResult, Invoker

log = logging.getLogger("durable_ext.functions")


class LoggingInvoker:
    def __init__(self, inner: Invoker) -> None:
        self.inner = inner

    async def invoke(
        self, request: InvocationRequest, *, executor: Executor | None = None
    ) -> InvocationResult:
        name = request.function.name
        log.debug("Executing 'Functions.%s' (Id=%s)", name, request.invocation_id)
        result = await self.inner.invoke(request, executor=executor)
        if result.ok:
            log.info(
                "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)",
                name,
                request.invocation_id,
                result.duration_ms,
            )
        else:
            log.error(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms): %s: %s",
                name,
                request.invocation_id,
                result.duration_ms,
                type(result.error).__name__,
                _first_line(str(result.error)),
            )
        return result


def _first_line(text: str) -> str:
    # The SDK appends its serialized state after a blank line; the log wants the message only.
    return text.split("\n\n$OutOfProcData$", 1)[0].splitlines()[0] if text else ""
