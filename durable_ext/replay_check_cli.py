"""`python -m durable_ext replay-check --script-root DIR`: would the app's current code still replay the
instances that are in flight in its embedded task hub?

The hub is opened as a client only (no ownership lock, nothing dispatched, nothing written), so this runs
while the host serves the same hub, e.g. before deploying changed orchestrator code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from .app.errors import AppLoadError
from .app.loader import LoadedApp, load_app
from .config import ConfigError
from .engine.history import HistoryEvent
from .host import HostOptions, load_config
from .store.base import RUNNING_STATES, InstanceQuery
from .store.sqlite import SqliteTaskHubStore, default_store_path
from .testing.replay_check import ReplayReport, check_replay

COMMAND = "replay-check"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        COMMAND,
        help="check every in-flight instance of the embedded task hub against the current code",
        description=__doc__,
    )
    _add_arguments(parser)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--script-root", default=".", help="the app folder (default: the current folder)")
    parser.add_argument("--hub", help="task hub name (default: the app's host.json hubName)")


def run(args: argparse.Namespace) -> int:
    """0: every in-flight instance replays; 1: at least one diverges; 2: the check could not run."""
    root = Path(args.script_root).resolve()
    try:
        config = load_config(HostOptions(script_root=root))
        app = load_app(root, functions_filter=config.settings.functions)
    except (ConfigError, AppLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    hub = args.hub or config.settings.durable_task.hub_name
    path = default_store_path(root, hub)
    if not path.exists():
        print(f"error: no embedded task hub '{hub}' at {path}", file=sys.stderr)
        return 2
    return asyncio.run(_check_hub(app, SqliteTaskHubStore(path, hub_name=hub, client_only=True)))


async def _check_hub(app: LoadedApp, store: SqliteTaskHubStore) -> int:
    await store.open()
    checked = diverged = skipped = 0
    try:
        token: str | None = None
        while True:
            page = await store.query_instances(
                InstanceQuery(statuses=RUNNING_STATES, page_size=200, continuation_token=token)
            )
            for state in page.instances:
                history = await store.get_history(state.instance_id)
                if not history:
                    skipped += 1
                    print(f"SKIPPED   {state.instance_id}  {state.name}: not started yet")
                    continue
                report = _check_one(app, state.name, state.instance_id, history)
                checked += 1
                if report.ok:
                    print(f"OK        {state.instance_id}  {state.name}")
                else:
                    diverged += 1
                    print(f"DIVERGES  {state.instance_id}  {state.name}: {_short(report)}")
            token = page.continuation_token
            if not token:
                break
    finally:
        await store.close()
    print(
        f"{checked} in-flight instance(s) checked: {checked - diverged} replay, {diverged} diverge"
        + (f", {skipped} not started" if skipped else "")
        + "."
    )
    if diverged:
        print(
            "Instances in flight replay with the new code: let them finish first, or deploy the change "
            "under a new orchestrator name."
        )
    return 1 if diverged else 0


def _short(report: ReplayReport) -> str:
    found = report.first_divergence
    if found is None:
        return report.message
    return f"at event id {found.event_id} the history has {found.expected}, the code now does {found.actual}"


def _check_one(app: LoadedApp, name: str, instance_id: str, history: list[HistoryEvent]) -> ReplayReport:
    spec = app.orchestrator(name)
    if spec is None:
        return ReplayReport(
            False, instance_id, None, f"the app has no orchestrator '{name}' any more (renamed or removed)"
        )
    return check_replay(spec, history, instance_id=instance_id)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m durable_ext.replay_check_cli`) until the main CLI wires the command."""
    parser = argparse.ArgumentParser(prog=f"python -m durable_ext {COMMAND}", description=__doc__)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
