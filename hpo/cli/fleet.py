"""``hpo pools create``, ``hpo worker start``, ``hpo deploy``: the Prefect side of a fleet.

All three talk to the Prefect server at ``PREFECT_API_URL``; none of them ever sends the study
store's URL to Prefect (workers read it from their own environment).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parents[2]


def register(sub: Any) -> None:
    pools = sub.add_parser("pools", help="work pools on the Prefect server")
    pools_sub = pools.add_subparsers(dest="pools_command", required=True, metavar="ACTION")
    create = pools_sub.add_parser("create", help="create or update the hpo-* work pools")
    create.add_argument("--kind", choices=["cpu", "gpu", "control"], action="append")
    create.set_defaults(handler=pools_create)

    worker = sub.add_parser("worker", help="Prefect workers on the pools")
    worker_sub = worker.add_subparsers(dest="worker_command", required=True, metavar="ACTION")
    start = worker_sub.add_parser("start", help="start a Prefect worker on a pool (foreground)")
    start.add_argument("--pool", choices=["cpu", "gpu", "control"], required=True)
    start.add_argument("--gpu", type=int, help="GPU index this worker owns (gpu pool)")
    start.add_argument("--limit", type=int, default=1, help="concurrent flow runs (default 1)")
    start.add_argument("--name", help="worker name (default: pool-host-gpu)")
    start.set_defaults(handler=worker_start)

    deploy = sub.add_parser("deploy", help="create the deployments of prefect.yaml")
    deploy.set_defaults(handler=deploy_all)


def _require_server() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ConfigError(
            "this command needs a Prefect server, but PREFECT_API_URL is not set",
            fix="start one (`prefect server start`) and export "
            "PREFECT_API_URL=http://127.0.0.1:4200/api",
        )
    return str(url)


def pools_create(args: argparse.Namespace) -> int:
    _require_server()
    from hpo.infra.pools import POOLS, create_pools

    kinds = tuple(args.kind or POOLS)
    for name in create_pools(kinds):
        print(f"work pool {name}: ready")
    return 0


def worker_command(kind: str, gpu: int | None, limit: int, name: str | None) -> list[str]:
    """The ``prefect worker start`` command line for one pool."""
    from hpo.infra.pools import pool

    spec = pool(kind)
    default_name = f"{kind}-{socket.gethostname()}" + (f"-gpu{gpu}" if gpu is not None else "")
    return [
        "prefect", "worker", "start",
        "--pool", spec.name,
        "--type", "process",
        "--limit", str(limit),
        "--name", name or default_name,
    ]  # fmt: skip


def worker_start(args: argparse.Namespace) -> int:
    _require_server()
    from hpo.infra.pools import ensure_gpu_slot

    if args.pool == "gpu":
        if args.gpu is None:
            raise ConfigError(
                "a gpu worker must own one GPU, but --gpu is missing",
                fix="start one worker per GPU: hpo worker start --pool gpu --gpu 0",
            )
        # Flow runs inherit the worker's environment: pin the device and the GPU's slot.
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.gpu)
        os.environ["HPO_WORKER_GPU_SLOT"] = ensure_gpu_slot(args.gpu)
    elif args.gpu is not None:
        raise ConfigError("--gpu only applies to --pool gpu", fix="drop --gpu")
    argv = worker_command(args.pool, args.gpu, args.limit, args.name)
    exe = shutil.which(argv[0])
    if exe is None:
        raise ConfigError("the `prefect` command is not on PATH", fix="pip install -e .")
    sys.stdout.flush()
    os.execv(exe, argv)  # the worker replaces this process: signals reach Prefect directly


def deploy_all(args: argparse.Namespace) -> int:
    _require_server()
    prefect_yaml = PROJECT_DIR / "prefect.yaml"
    if not prefect_yaml.exists():
        raise ConfigError(
            f"{prefect_yaml} not found: deployments are made from a checkout of the repository",
            fix="run `hpo deploy` from a git checkout installed with `pip install -e .`",
        )
    os.environ["HPO_PROJECT_DIR"] = str(PROJECT_DIR)
    prefect = shutil.which("prefect") or "prefect"
    proc = subprocess.run(
        [prefect, "--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_yaml)],
        cwd=PROJECT_DIR,
        check=False,
    )
    if proc.returncode != 0:
        raise ConfigError(
            f"`prefect deploy` failed with exit code {proc.returncode} (its output is above)",
            fix="create the pools first: hpo pools create",
        )
    return 0
