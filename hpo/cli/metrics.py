"""``hpo metrics serve [--port] [--host]``: a Prometheus exporter of the study store (foreground;
Ctrl-C stops it). What it exports: :mod:`hpo.metrics`; a sample Grafana dashboard:
infra/grafana/hpo-dashboard.json."""

from __future__ import annotations

import argparse
import socket
import threading
from typing import Any

from hpo.errors import ConfigError
from hpo.settings import get_settings


def register(sub: Any) -> None:
    p = sub.add_parser("metrics", help="Prometheus metrics of the study store")
    actions = p.add_subparsers(dest="metrics_command", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve /metrics (read from the store per scrape)")
    serve.add_argument("--port", type=int, help="port (default HPO_MONITORING_METRICS_PORT, 9464)")
    serve.add_argument("--host", help="address (default 127.0.0.1)")
    serve.add_argument(
        "--study", help="only studies whose name matches this pattern (xgb-*, or a substring)"
    )
    serve.set_defaults(handler=serve_command)


def check_port(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, but got {port}")
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            raise ConfigError(
                f"port {port} on {host} is already in use",
                fix="pick another with --port (or HPO_MONITORING_METRICS_PORT)",
            ) from None


def serve_command(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    from prometheus_client import CollectorRegistry, start_http_server

    from hpo.metrics import StoreCollector
    from hpo.query import StudyClient

    settings = get_settings()
    host = args.host or settings.monitoring.metrics_host
    port = args.port if args.port is not None else settings.monitoring.metrics_port
    check_port(host, port)
    client = StudyClient()  # fails fast, with a masked URL, when the store is unreachable
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        StoreCollector(client, settings.worker.grace_period_s, getattr(args, "study", None))
    )
    server, thread = start_http_server(port, addr=host, registry=registry)
    print(f"serving Prometheus metrics at http://{host}:{port}/metrics (Ctrl-C stops)", flush=True)
    try:
        (stop or threading.Event()).wait()
    finally:
        server.shutdown()
        thread.join(timeout=5)
    return 0
