"""``hpo server start|stop|status``: the local Prefect server and UI the other commands reuse.

:func:`use_local_server` runs before any command (and before Prefect is imported): when the user
set no ``PREFECT_API_URL`` it points the command at the running local server. The commands that
run flows (``tune``, ``compare``, ``promote``) call it again once their input is checked, to
start one when none runs (unless ``HPO_SERVER_AUTOSTART`` is false), saying so in one line.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hpo.infra import prefect_server
from hpo.settings import PrefectEnv, apply_prefect_defaults, get_settings


def register(sub: Any) -> None:
    p = sub.add_parser("server", help="the local Prefect server and UI (background process)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser("start", help="start it in the background and print its UI URL")
    start.add_argument("--port", type=int, help="port (default: 4200 when free, else any free)")
    start.set_defaults(handler=start_command)
    stop = actions.add_parser("stop", help="stop it (its runs stay in its database)")
    stop.set_defaults(handler=stop_command)
    status = actions.add_parser("status", help="URL, pid and health of the running server")
    status.add_argument("--json", action="store_true", help="print the state as JSON")
    status.set_defaults(handler=status_command)


def start_command(args: argparse.Namespace) -> int:
    if args.port is not None and not 1 <= args.port <= 65535:
        from hpo.errors import ConfigError

        raise ConfigError(f"--port must be between 1 and 65535, but got {args.port}")
    settings = get_settings()
    running = prefect_server.read_state(prefect_server.server_dir(settings))
    if running is None:
        print("starting the local Prefect server (the first start migrates its database)...")
    state = prefect_server.start(settings, port=args.port)
    print(f"Prefect UI: {state.ui_url}  (pid {state.pid}; stop it with `hpo server stop`)")
    print(f"log: {state.log}")
    return 0


def stop_command(args: argparse.Namespace) -> int:
    state = prefect_server.stop(get_settings())
    if state is None:
        print("no local Prefect server is running")
    else:
        print(f"stopped the local Prefect server at {state.ui_url} (pid {state.pid})")
    return 0


def status_command(args: argparse.Namespace) -> int:
    settings = get_settings()
    state = prefect_server.read_state(prefect_server.server_dir(settings))
    if state is None:
        print("no local Prefect server is running (start one with `hpo server start`)")
        return 1
    if args.json:
        print(prefect_server.state_json(state))
    else:
        print("\n".join(prefect_server.status_lines(state)))
    return 0


def use_local_server(*, start: bool = False) -> str | None:
    """Point this process at the local server when the user chose no Prefect API; returns the
    API URL used (None: the user's own PREFECT_API_URL, from the environment or the active
    Prefect profile, or Prefect's ephemeral server).

    Every command calls it before its handler (it only reads the server's state file);
    commands that run flows call it again with ``start`` once their input is checked and
    before Prefect is imported: a local server is then started when none runs (unless
    ``HPO_SERVER_AUTOSTART`` is false), so bad input never waits for a server to start."""
    if PrefectEnv().chosen_api_url():  # the user's own server (environment or Prefect profile)
        apply_prefect_defaults()
        return None
    settings = get_settings()
    state = prefect_server.read_state(prefect_server.server_dir(settings))
    if state is None and start and settings.server.autostart:
        state, _ = prefect_server.ensure_running(settings)
        print(
            f"started the local Prefect server: UI at {state.ui_url} "
            "(stop it with `hpo server stop`; HPO_SERVER_AUTOSTART=false to opt out)",
            file=sys.stderr,
        )
    api_url = state.api_url if state is not None else None
    apply_prefect_defaults(api_url)
    return api_url
