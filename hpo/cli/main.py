"""Entry point of the ``hpo`` command: argument parsing and the one place errors become exit codes.

Any :class:`~hpo.errors.HpoError` is printed as a short message (where, rule, fix) on stderr with
exit code 2 and no traceback; argparse's own usage errors exit 2 as well. Whatever is printed
here has the store's password redacted (:mod:`hpo.redaction`), tracebacks of bugs included.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable, Sequence

from hpo.cli import startup
from hpo.errors import HpoError
from hpo.redaction import redact
from hpo.settings import get_settings

Handler = Callable[[argparse.Namespace], int]


#: Each command and the module that registers it. A command imports only its own module, so
#: `hpo tune` does not pay for scipy or prometheus-client (`hpo --help` imports them all).
COMMANDS: dict[str, str] = {
    "tune": "hpo.cli.tune",
    "pools": "hpo.cli.fleet",
    "worker": "hpo.cli.fleet",
    "deploy": "hpo.cli.fleet",
    "promote": "hpo.cli.promotions",
    "promotions": "hpo.cli.promotions",
    "studies": "hpo.cli.studies",
    "compare": "hpo.cli.compare",
    "server": "hpo.cli.server",
    "metrics": "hpo.cli.metrics",
    "dashboard": "hpo.cli.dashboard",
    "image": "hpo.cli.image",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` only, or of every command (no or an unknown command)."""
    parser = argparse.ArgumentParser(
        prog="hpo",
        description="Hyperparameter optimization on Prefect + Optuna + PostgreSQL.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for module in dict.fromkeys(wanted):
        importlib.import_module(module).register(sub)
    return parser


def run() -> None:
    """The ``hpo`` console script and ``python -m hpo``: :func:`main` in a process of its own,
    with the collector tuned for a short-lived command (:mod:`hpo.cli.startup`)."""
    startup.hold()
    code = main()
    startup.release()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    from hpo.cli.server import use_local_server

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    startup.settle()
    try:
        # Before Prefect is imported: a running local server, or Prefect's defaults.
        use_local_server()
        return handler(args)
    except HpoError as exc:
        print(f"error: {_redact(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug, not bad input: keep the traceback, but never a secret in it
        print(_redact(traceback.format_exc()), file=sys.stderr, end="")
        return 1


def _redact(text: str) -> str:
    """``text`` without the store's password (in any form libpq takes it), nor the MLflow
    tracking URI's."""
    try:
        settings = get_settings()
        secrets = [settings.database.url, settings.mlflow.tracking_uri]
    except HpoError:
        secrets = []
    for secret in secrets:
        if secret is not None:
            text = redact(text, secret.get_secret_value())
    return redact(text)


if __name__ == "__main__":  # pragma: no cover
    run()
