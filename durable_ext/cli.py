"""`python -m durable_ext start`: serve a Functions app like `func start`, with no Core Tools."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

from . import replay_check_cli
from .app.errors import AppLoadError
from .config import ConfigError
from .host import DurableHost, HostOptions, HostStartError
from .store.sqlite import HubInUseError

KIND_BY_TRIGGER = {
    "orchestrationtrigger": "orchestrationTrigger",
    "activitytrigger": "activityTrigger",
    "entitytrigger": "entityTrigger",
}


def _default_options(args: argparse.Namespace) -> HostOptions:
    """From the repo root with no --script-root, serve sample_app with the root host.json and settings."""
    cwd = Path.cwd()
    keys = Path(args.keys_file).resolve() if args.keys_file else None
    if args.script_root is not None:
        root = Path(args.script_root).resolve()
        return HostOptions(script_root=root, port=args.port, bind=args.bind, keys_file=keys)
    if (cwd / "sample_app").is_dir() and not (cwd / "function_app.py").exists():
        return HostOptions(
            script_root=cwd / "sample_app",
            host_json=cwd / "host.json",
            local_settings=cwd / "local.settings.json",
            port=args.port,
            bind=args.bind,
            keys_file=keys,
        )
    return HostOptions(script_root=cwd, port=args.port, bind=args.bind, keys_file=keys)


async def _print_summaries(host: DurableHost, stop: asyncio.Event, every: float = 5.0) -> None:
    """While work runs, one summary line every few seconds (nothing while idle)."""
    while not stop.is_set():
        await asyncio.sleep(every)
        line = host.summary_line()
        if line:
            print(line, flush=True)


def _describe_functions(host: DurableHost) -> str:
    lines = ["", "Functions:", ""]
    prefix = host.config.settings.http.route_prefix.strip("/")
    for name, spec in sorted(host.app.functions.items()):
        trigger = spec.trigger.type
        if trigger.lower() == "httptrigger":
            methods = (
                ",".join(m.upper() for m in (spec.trigger.get("methods") or []))
                or "GET,POST,PUT,DELETE,PATCH"
            )
            route = str(spec.trigger.get("route") or spec.name)
            path = "/".join(p for p in (prefix, route.strip("/")) if p)
            lines.append(f"\t{name}: [{methods}] {host.origin}/{path}")
        else:
            lines.append(f"\t{name}: {KIND_BY_TRIGGER.get(trigger.lower(), trigger)}")
        lines.append("")
    return "\n".join(lines)


async def _serve(options: HostOptions) -> int:
    host = DurableHost(options)
    for warning in host.app.warnings:
        logging.getLogger("durable_ext.host").warning("%s", warning)
    await host.start()
    # What is alive now (the app, the SDK and every library it imported) lives as long as this process:
    # frozen, later garbage collections leave it out instead of walking it each time (about 5% less
    # CPU on a busy host). Only here, where one host owns the process.
    gc.collect()
    gc.freeze()
    store = getattr(host.store, "path", None)
    print(
        f"Task hub '{host.hub_name}' on the embedded store ({store})."
        if store
        else f"Task hub '{host.hub_name}'."
    )
    print(host.keys_note)
    print(_describe_functions(host), flush=True)
    print(f"Host started on {host.origin}. Press Ctrl+C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    summary = asyncio.create_task(_print_summaries(host, stop))
    await stop.wait()
    summary.cancel()
    print("Stopping host...", flush=True)
    await host.stop()
    return 0


def _queue_put(url: str, queue: str, message: str, key: str | None) -> int:
    target = f"{url.rstrip('/')}/admin/queues/{queue}/messages" + (f"?code={key}" if key else "")
    request = urllib.request.Request(target, data=message.encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(json.loads(response.read())["id"])
            return 0
    except urllib.error.HTTPError as exc:
        print(f"error: {exc.code} {exc.read().decode(errors='replace')}", file=sys.stderr)
    except OSError as exc:
        print(f"error: cannot reach the host at {url}: {exc}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m durable_ext", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="serve a Functions app (like `func start`)")
    start.add_argument(
        "--script-root", help="the app folder (host.json, function folders or function_app.py)"
    )
    start.add_argument("--port", type=int, default=7071, help="HTTP port (default 7071)")
    start.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    start.add_argument("--keys-file", help="JSON keys file (default: <script root>/.durable/keys.json)")
    start.add_argument("--verbose", action="store_true", help="debug logging")
    queue = commands.add_parser("queue", help="put a message on an app queue of a running host")
    queue_commands = queue.add_subparsers(dest="queue_command", required=True)
    put = queue_commands.add_parser("put", help="put one message (e.g. to trigger a queueTrigger function)")
    put.add_argument("queue", help="queue name, e.g. start-queue")
    put.add_argument("message", help="message text")
    put.add_argument("--url", default="http://127.0.0.1:7071", help="the running host (default %(default)s)")
    put.add_argument("--key", help="master key, when the host requires keys")
    replay_check_cli.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == replay_check_cli.COMMAND:
        return replay_check_cli.run(args)
    if args.command == "queue":
        return _queue_put(args.url, args.queue, args.message, args.key)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="[%(asctime)s] %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    logging.getLogger("azure").setLevel(logging.WARNING)
    try:
        return asyncio.run(_serve(_default_options(args)))
    except (ConfigError, AppLoadError, HostStartError, HubInUseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.bind}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
