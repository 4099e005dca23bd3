"""``hpo studies plot NAME [--output DIR]``: a study's plots as PNG files (the same ones a tune
run shows in the Prefect UI: history with the best so far, importances, parameter vs value)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from hpo.settings import artifacts_dir, get_settings


def register(actions: Any) -> None:
    """Add ``plot`` to the ``hpo studies`` actions."""
    p = actions.add_parser("plot", help="write a study's plots as PNG files")
    p.add_argument("name", help="study name")
    p.add_argument(
        "--output", help="directory (default: <artifacts dir>/plots/<study>, beside its reports)"
    )
    p.set_defaults(handler=run_plot)


def default_dir(study_name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", study_name).strip("-") or "study"
    return artifacts_dir(get_settings()) / "plots" / safe


def run_plot(args: argparse.Namespace) -> int:
    from hpo.plots import study_plots, write_plots
    from hpo.store import get_storage

    pngs = study_plots(get_storage(), args.name)
    directory = Path(args.output) if args.output else default_dir(args.name)
    for path in write_plots(pngs, directory):
        print(path)
    return 0
