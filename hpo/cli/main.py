"""Entry point of the ``hpo`` command: argument parsing and the one place errors become exit codes.

Any :class:`~hpo.errors.HpoError` is printed as a short message (where, rule, fix) on stderr with
exit code 2 and no traceback; argparse's own usage errors exit 2 as well. Whatever is printed
here has the store's password redacted (:mod:`hpo.redaction`), tracebacks of bugs included.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from hpo.errors import HpoError
from hpo.redaction import redact
from hpo.settings import apply_prefect_defaults, get_settings

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from hpo.cli import compare, fleet, image, promotions, studies, tune

    parser = argparse.ArgumentParser(
        prog="hpo",
        description="Hyperparameter optimization on Prefect + Optuna + PostgreSQL.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tune.register(sub)
    fleet.register(sub)
    image.register(sub)
    promotions.register(sub)
    studies.register(sub)
    compare.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    apply_prefect_defaults()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
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
    """``text`` without the store's password (in any form libpq takes it)."""
    try:
        url = get_settings().database.url
    except HpoError:
        url = None
    return redact(text, url.get_secret_value() if url is not None else None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
