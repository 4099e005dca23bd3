"""Lineage of a promoted configuration: which data and which code produced it."""

from __future__ import annotations

import hashlib
import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]


def dataset_fingerprint(name: str | None) -> str | None:
    """SHA-256 (first 16 hex digits) of a bundled dataset's features and targets; None for
    user objectives, whose data the service does not see."""
    if name is None:
        return None
    from hpo.workers.datasets import load_dataset

    data = load_dataset(name)
    digest = hashlib.sha256()
    digest.update(data.X.tobytes())
    digest.update(data.y.tobytes())
    return digest.hexdigest()[:16]


@cache
def code_version() -> str:
    """``prefect-hpo <version>``, plus the git commit (and ``-dirty``) when run from a checkout."""
    try:
        text = f"prefect-hpo {version('prefect-hpo')}"
    except PackageNotFoundError:
        text = "prefect-hpo (not installed)"
    if (PROJECT_DIR / ".git").exists():
        try:
            sha = subprocess.run(
                ["git", "-C", str(PROJECT_DIR), "rev-parse", "--short=12", "HEAD"],
                capture_output=True, text=True, timeout=5, check=True,
            ).stdout.strip()  # fmt: skip
            dirty = subprocess.run(
                ["git", "-C", str(PROJECT_DIR), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=5, check=True,
            ).stdout.strip()  # fmt: skip
            text += f" git {sha}{'-dirty' if dirty else ''}"
        except (OSError, subprocess.SubprocessError):
            pass
    return text
