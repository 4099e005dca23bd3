"""``hpo image build [--gpu]``: the trial-worker image from this checkout.

Steps: ``pip wheel`` the checkout and every dependency into a wheelhouse on the host (so the
build needs no index and no network), then ``podman build`` / ``docker build`` of
``infra/images/Containerfile`` with ``BASE_IMAGE``, ``EXTRAS``, ``DEVICE`` and the version and
git commit as labels. An image whose commit label equals the checkout's clean ``HEAD`` is kept
(``--force`` rebuilds). Prints the tag and the size.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError

CPU_BASE = "hpo-debian-base:bookworm"
# The CUDA runtime is for GPU hosts; torch's CUDA wheels bring their own libraries, so a Debian
# base with the host's NVIDIA driver (NVIDIA Container Toolkit) works as well.
GPU_BASE = "nvidia/cuda:12.4.1-runtime-ubuntu22.04"
# Bookworm's python3 is 3.11.2; markers below 3.11.3 need async-timeout (redis), which a
# wheelhouse resolved by a newer 3.11 would leave out.
_MARKER_EXTRAS = ("async-timeout",)


def register(sub: Any) -> None:
    image = sub.add_parser("image", help="container images of the trial workers")
    image_sub = image.add_subparsers(dest="image_command", required=True, metavar="ACTION")
    build = image_sub.add_parser("build", help="build the trial-worker image (CPU or --gpu)")
    build.add_argument("--gpu", action="store_true", help="the CUDA variant (torch, device cuda)")
    build.add_argument("--base-image", help=f"BASE_IMAGE (default {CPU_BASE}; --gpu: {GPU_BASE})")
    build.add_argument("--tag", help="image tag (default hpo-worker:<version>-cpu|gpu)")
    build.add_argument("--extras", help='package extras (default "[docker]", --gpu adds torch)')
    build.add_argument("--source", type=Path, help="checkout to build (default: this package's)")
    build.add_argument("--engine", choices=["podman", "docker"], help="default: the one found")
    build.add_argument("--force", action="store_true", help="rebuild even if the commit matches")
    build.set_defaults(handler=image_build)


def default_tag(gpu: bool) -> str:
    from importlib.metadata import version

    return f"hpo-worker:{version('prefect-hpo')}-{'gpu' if gpu else 'cpu'}"


def checkout(source: Path | None) -> Path:
    """The project to build: ``source``, or the checkout this ``hpo`` is installed from."""
    import hpo

    root = source or Path(hpo.__file__).resolve().parents[1]
    if not (root / "infra/images/Containerfile").is_file():
        raise ConfigError(
            f"{root} is not a prefect-hpo checkout (no infra/images/Containerfile)",
            fix="run from a checkout or pass --source DIR",
        )
    return root


def git_commit(root: Path) -> str:
    """``HEAD`` of ``root``, with ``-dirty`` when the tree has changes (never reused)."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    head = git("rev-parse", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return head + ("-dirty" if dirty else "")


def build_wheelhouse(root: Path, wheels: Path, extras: str) -> None:
    """Wheels of the checkout and all its dependencies in ``wheels`` (kept between builds)."""
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("prefect_hpo-*.whl"):
        old.unlink()
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(wheels),
           "--find-links", str(wheels), f"{root}{extras}", *_MARKER_EXTRAS]  # fmt: skip
    if subprocess.run(cmd, check=False).returncode != 0:
        raise ConfigError(
            "`pip wheel` of the checkout and its dependencies failed (its output is above)",
            fix="check the package index settings (pip config list) and retry",
        )


def wheelhouse_id(wheels: Path) -> str:
    """A digest of the wheelhouse: every file's name, and the project wheel's bytes."""
    digest = hashlib.sha256()
    for path in sorted(wheels.glob("*.whl")):
        digest.update(path.name.encode())
        if path.name.startswith("prefect_hpo-"):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def image_build(args: argparse.Namespace) -> int:
    from hpo.infra.containers import REVISION_LABEL, find_engine

    root = checkout(args.source)
    engine = find_engine(args.engine)
    tag = args.tag or default_tag(args.gpu)
    commit = git_commit(root)
    labels = engine.image_labels(tag)
    if labels and labels.get(REVISION_LABEL) == commit and not commit.endswith("-dirty"):
        if not args.force:
            print(f"image {tag}: up to date (commit {commit[:12]}), {_size(engine, tag)}")
            return 0
    base = args.base_image or (GPU_BASE if args.gpu else CPU_BASE)
    if engine.image_labels(base) is None and base == CPU_BASE:
        raise ConfigError(
            f"the base image {base} is not in {engine.name}",
            fix="build it: sudo infra/images/debian-base.sh (or pass --base-image IMAGE)",
        )
    extras = args.extras or ("[docker,torch]" if args.gpu else "[docker]")
    from importlib.metadata import version

    context = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hpo" / "image"
    started = time.monotonic()
    build_wheelhouse(root, context / "wheels", extras)
    shutil.copy2(root / "infra/images/Containerfile", context / "Containerfile")
    cmd = [
        engine.path, "build", "--network", "host", "-f", str(context / "Containerfile"),
        "-t", tag,
        "--build-arg", f"BASE_IMAGE={base}",
        "--build-arg", f"EXTRAS={extras}",
        "--build-arg", f"DEVICE={'cuda' if args.gpu else 'cpu'}",
        "--build-arg", f"HPO_VERSION={version('prefect-hpo')}",
        "--build-arg", f"GIT_COMMIT={commit}",
        "--build-arg", f"WHEELHOUSE_ID={wheelhouse_id(context / 'wheels')}",
        str(context),
    ]  # fmt: skip
    if subprocess.run(cmd, check=False).returncode != 0:
        raise ConfigError(
            f"`{engine.name} build` of {tag} failed (its output is above)",
            fix=f"check that the base image {base} is reachable and has apt or Python 3.11",
        )
    took = time.monotonic() - started
    print(f"image {tag}: built in {took:.0f} s (commit {commit[:12]}), {_size(engine, tag)}")
    return 0


def _size(engine: Any, tag: str) -> str:
    return f"{engine.image_size(tag) / 1e6:.0f} MB"
