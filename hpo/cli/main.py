"""Entry point of the ``hpo`` command: argument parsing and the one place errors become exit codes.

Any :class:`~hpo.errors.HpoError` is printed as a short message (where, rule, fix) on stderr with
exit code 2 and no traceback; argparse's own usage errors exit 2 as well.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from hpo.errors import HpoError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from hpo.cli import compare, dashboard, fleet, metrics, promotions, server, studies, tune

    parser = argparse.ArgumentParser(
        prog="hpo",
        description="Hyperparameter optimization on Prefect + Optuna + PostgreSQL.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tune.register(sub)
    fleet.register(sub)
    promotions.register(sub)
    studies.register(sub)
    compare.register(sub)
    server.register(sub)
    metrics.register(sub)
    dashboard.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from hpo.cli.server import use_local_server

    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        # Before Prefect is imported: the local server (started for flow commands) or defaults.
        use_local_server(args.command)
        return handler(args)
    except HpoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
