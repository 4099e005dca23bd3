"""``hpo dashboard [--port] [--host]``: optuna-dashboard on the service's study store, in the
foreground (Ctrl-C stops it). Needs the ``dashboard`` extra
(``pip install 'prefect-hpo[dashboard]'``). Studies show their metric's name
(``hpo.study_setup.open_study`` sets Optuna's metric names), and trials list their artifacts
(models, files objectives saved) from the service's artifact store (``HPO_ARTIFACTS_STORE``)."""

from __future__ import annotations

import argparse
from typing import Any

from hpo.cli.metrics import check_port
from hpo.errors import ConfigError
from hpo.settings import artifact_store_location, get_settings


def register(sub: Any) -> None:
    p = sub.add_parser("dashboard", help="optuna-dashboard on the study store (foreground)")
    p.add_argument("--port", type=int, help="port (default HPO_MONITORING_DASHBOARD_PORT, 8080)")
    p.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    p.set_defaults(handler=run)


def require_dashboard() -> None:
    try:
        import optuna_dashboard  # noqa: F401
    except ImportError:
        raise ConfigError(
            "`hpo dashboard` needs optuna-dashboard, which is not installed",
            fix="pip install 'prefect-hpo[dashboard]'",
        ) from None


def run(args: argparse.Namespace) -> int:
    require_dashboard()
    settings = get_settings()
    port = args.port if args.port is not None else settings.monitoring.dashboard_port
    check_port(args.host, port)
    from optuna_dashboard import run_server

    from hpo.store import get_storage, mask_url
    from hpo.workers.artifacts import open_artifact_store

    storage = get_storage(settings)
    artifact_store = open_artifact_store(settings)
    print(
        f"optuna-dashboard on {mask_url(str(storage.url))}, artifacts in "
        f"{artifact_store_location(settings)}: http://{args.host}:{port}/dashboard (Ctrl-C stops)",
        flush=True,
    )
    run_server(storage, host=args.host, port=port, artifact_store=artifact_store)
    return 0
