"""Whether the store's HTTP clients need the proxy and netrc settings of the environment.

Under azure-core's default (`use_env_settings=True`) aiohttp looks up proxy settings and a netrc file for
every request, each on a worker thread: two thread hand-offs and a scan of the environment per request,
about a fifth of the host's CPU against Azurite. When the process has no proxy setting and no netrc file
those lookups can only come back empty, so the clients are built without them; with either, nothing
changes.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

# The schemes aiohttp takes a proxy for from the environment.
_PROXIED_SCHEMES = ("http", "https", "ws", "wss")


def environment_configures_http() -> bool:
    """True when there is a proxy setting or a netrc file for aiohttp to use."""
    # The same sources aiohttp reads: urllib's proxies (variables; on macOS and Windows also the
    # system's settings), then $NETRC or ~/.netrc.
    proxies = urllib.request.getproxies()
    if any(scheme in proxies for scheme in _PROXIED_SCHEMES):
        return True
    netrc = os.environ.get("NETRC") or str(Path.home() / ".netrc")
    return Path(netrc).is_file()
