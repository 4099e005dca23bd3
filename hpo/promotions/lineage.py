"""Lineage of a promoted configuration: which data and which code produced it (promotions
layer)."""

from __future__ import annotations

import hashlib
import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import hpo


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
    """``prefect-hpo <version>``, plus the git commit (and ``-dirty``) when the running package is
    a git checkout's (an editable install): git finds the repository from the package's own
    folder, and only if it tracks the package's files."""
    try:
        text = f"prefect-hpo {version('prefect-hpo')}"
    except PackageNotFoundError:
        text = "prefect-hpo (not installed)"
    package = Path(hpo.__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(package), *args],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip

    try:
        git("ls-files", "--error-unmatch", "__init__.py")  # fails outside a checkout
        sha = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
        text += f" git {sha}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        pass  # a wheel install, or no git: the version says it
    return text
