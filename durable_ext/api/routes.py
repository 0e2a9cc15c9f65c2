"""Function route templates (`orders/{id:int}/{*rest}`) compiled to matchers."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+)(?:\([^)]*\))?)?(\?)?(?:=[^}]*)?\}")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f-]{32,36}",
}


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    pattern: re.Pattern[str]

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path.strip("/"))
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


def compile_route(template: str) -> RouteTemplate:
    """ASP.NET-style templates: `{name}`, optional `{name?}`, typed `{name:int}`, catch-all `{*name}`."""
    text = template.strip("/")
    regex = ""
    pos = 0
    for m in _PARAM.finditer(text):
        literal = text[pos : m.start()]
        catch_all, name, constraint, optional = m.group(1), m.group(2), m.group(3), m.group(4)
        body = ".*" if catch_all else _CONSTRAINTS.get((constraint or "").lower(), r"[^/]+")
        if (optional or catch_all) and literal.endswith("/"):
            regex += re.escape(literal[:-1]) + f"(?:/(?P<{name}>{body}))?"
        else:
            regex += re.escape(literal) + f"(?P<{name}>{body})" + ("?" if optional else "")
        pos = m.end()
    regex += re.escape(text[pos:])
    return RouteTemplate(template, re.compile(regex, re.IGNORECASE))
