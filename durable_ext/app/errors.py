"""The one error type for an app the host cannot load: it names the file, function and field, and the fix."""

from __future__ import annotations

from pathlib import Path


class AppLoadError(Exception):
    """A problem in the user's app that stops the host from starting.

    `str()` is one readable line, e.g.
    `MyApp/Hello/function.json: function 'Hello': bindings[1].name: missing. Fix: add a "name"`.
    """

    def __init__(
        self,
        source: Path,
        message: str,
        *,
        fix: str,
        function: str | None = None,
        field: str | None = None,
    ) -> None:
        self.source = Path(source)
        self.function = function
        self.field = field
        self.message = message.rstrip(". ")
        self.fix = fix.rstrip(". ")
        super().__init__(self._line())

    def _line(self) -> str:
        parts = [str(self.source)]
        if self.function is not None:
            parts.append(f"function '{self.function}'")
        if self.field is not None:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts) + f". Fix: {self.fix}."

    def __str__(self) -> str:
        return self._line()

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments would otherwise be lost when pickled (e.g. across a process pool).
        return (_rebuild, (self.source, self.message, self.fix, self.function, self.field))


def _rebuild(source: Path, message: str, fix: str, function: str | None, field: str | None) -> AppLoadError:
    return AppLoadError(source, message, fix=fix, function=function, field=field)
