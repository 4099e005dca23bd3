"""``hpo pools create``, ``hpo worker start``, ``hpo deploy``: the Prefect side of a fleet.

All three talk to the Prefect server at ``PREFECT_API_URL``; none of them ever sends the study
store's URL to Prefect (workers read it from their own environment). Prefect runs as
``sys.executable -m prefect``: the interpreter of this ``hpo``, whatever PATH holds.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from hpo.cli import docker_fleet
from hpo.cli.prefect_api import require_server
from hpo.errors import ConfigError
from hpo.settings import get_settings


def register(sub: Any) -> None:
    pools = sub.add_parser("pools", help="work pools on the Prefect server")
    pools_sub = pools.add_subparsers(dest="pools_command", required=True, metavar="ACTION")
    create = pools_sub.add_parser("create", help="create or update the hpo-* work pools")
    create.add_argument("--kind", choices=["cpu", "gpu", "control"], action="append")
    docker_fleet.add_pool_arguments(create)
    create.set_defaults(handler=pools_create)

    worker = sub.add_parser("worker", help="Prefect workers on the pools")
    worker_sub = worker.add_subparsers(dest="worker_command", required=True, metavar="ACTION")
    start = worker_sub.add_parser("start", help="start a Prefect worker on a pool (foreground)")
    start.add_argument("--pool", choices=["cpu", "gpu", "control"], required=True)
    start.add_argument("--gpu", type=int, help="GPU index this worker owns (gpu pool)")
    start.add_argument("--limit", type=int, default=1, help="concurrent flow runs (default 1)")
    start.add_argument("--name", help="worker name (default: pool-host-gpu)")
    start.add_argument("--type", dest="pool_type", default="process",
                       help="process (default) or docker: the pool's type")  # fmt: skip
    start.set_defaults(handler=worker_start)

    deploy = sub.add_parser("deploy", help="create the deployments (hpo/flows/prefect.yaml)")
    deploy.add_argument(
        "--target", choices=["process", "docker"], default="process",
        help="docker: only the trial-worker deployments, on the Docker pools (the image's flows)",
    )  # fmt: skip
    deploy.set_defaults(handler=deploy_all)


def prefect_command(*args: str) -> list[str]:
    """``python -m prefect ARGS`` with this interpreter; exit 2 naming Prefect if it is absent."""
    if importlib.util.find_spec("prefect") is None:
        raise ConfigError(
            f"Prefect is not installed in {sys.executable}",
            fix="pip install prefect-hpo (it depends on prefect)",
        )
    return [sys.executable, "-m", "prefect", *args]


def pools_create(args: argparse.Namespace) -> int:
    docker_fleet.check_type(args.pool_type)
    require_server()
    if args.pool_type == "docker":
        return docker_fleet.docker_pools_create(args)
    from hpo.infra.pools import POOLS, create_pools

    kinds = tuple(args.kind or POOLS)
    for name in create_pools(kinds):
        print(f"work pool {name}: ready")
    return 0


def worker_command(
    kind: str, gpu: int | None, limit: int, name: str | None, pool_type: str = "process"
) -> list[str]:
    """The ``prefect worker start`` command line for one pool. Process pools get the
    ``hpo-process`` worker (hpo.infra.process_worker): Prefect's, polling when told of work."""
    from hpo.infra.pools import pool

    spec = pool(kind)
    default_name = f"{kind}-{socket.gethostname()}" + (f"-gpu{gpu}" if gpu is not None else "")
    return prefect_command(
        "worker", "start",
        "--pool", spec.name,
        "--type", "hpo-process" if pool_type == "process" else pool_type,
        "--limit", str(limit),
        "--name", name or default_name,
    )  # fmt: skip


def worker_start(args: argparse.Namespace) -> int:
    docker_fleet.check_type(args.pool_type)
    api_url = require_server()
    from hpo.infra.pools import ensure_gpu_slot

    if args.pool_type == "docker":
        from hpo.infra.containers import docker_api_client

        docker_api_client()  # DOCKER_HOST answers (and prefect-docker is installed)
        if args.pool == "control" or args.gpu is not None:
            raise ConfigError(
                "a Docker worker serves hpo-cpu or hpo-gpu; the GPU each container gets is "
                "Docker's device request",
                fix="hpo worker start --type docker --pool cpu (or --pool gpu, without --gpu)",
            )
    elif args.pool == "gpu":
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
    if args.pool_type == "process":
        # Not for Docker: Prefect passes the worker's settings on to its flow runs, and a
        # container has no such file (its Prefect clients would fail to start).
        skip_tls_setup(api_url)
        # The pools' flow-run command is `python -m hpo.flows.engine`: this interpreter.
        here = os.path.dirname(sys.executable)
        if not os.access(os.path.join(here, "python"), os.X_OK):
            raise ConfigError(
                f"flow runs on the pools start `python` from {here}, which has none",
                fix="run the worker from a virtual environment (python -m venv), or link "
                f"{sys.executable} as {os.path.join(here, 'python')}",
            )
        os.environ["PATH"] = os.pathsep.join([here, os.environ.get("PATH", "")])
        start_zygote()
    # Prefect's workers poll for runs every 10 s: each trial worker of a fan-out would wait up
    # to that long, and runs picked up by different workers would start that far apart.
    os.environ.setdefault("PREFECT_WORKER_QUERY_SECONDS", f"{get_settings().worker.poll_s:g}")
    argv = worker_command(args.pool, args.gpu, args.limit, args.name, args.pool_type)
    sys.stdout.flush()
    os.execv(argv[0], argv)  # the worker replaces this process: signals reach Prefect directly


def skip_tls_setup(api_url: str) -> None:
    """On a plain-HTTP Prefect API, spare a process worker and its flow runs (processes of this
    machine, which see the file) the certificate bundle Prefect parses for every API client
    (hpo.infra.prefect_tls)."""
    from prefect.settings import PREFECT_HOME

    from hpo.infra.prefect_tls import skip_unused_ca_bundle

    skip_unused_ca_bundle(os.environ, api_url, Path(PREFECT_HOME.value()))


def start_zygote() -> None:
    """Start the worker's resident pre-imported process (``hpo.flows.zygote``) and put its
    socket in the environment flow runs inherit; ``HPO_WORKER_ZYGOTE=false``: none. It dies
    with the worker (the process this one becomes at ``execv``)."""
    if not get_settings().worker.zygote:
        os.environ.pop("HPO_ENGINE_SOCKET", None)
        return
    import tempfile

    folder = tempfile.mkdtemp(prefix="hpo-zygote-")  # 0700: only this user reaches the socket
    os.environ["HPO_ENGINE_SOCKET"] = os.path.join(folder, "engine.sock")
    subprocess.Popen(  # noqa: S603 - this interpreter, a module of this package
        [sys.executable, "-m", "hpo.flows.zygote"], stdin=subprocess.DEVNULL, close_fds=True
    )


def deploy_all(args: argparse.Namespace) -> int:
    require_server()
    names: list[str] = []
    if args.target == "docker":
        names = docker_fleet.check_docker_deploy()
    # The deployments ship with the package; their entrypoints are installed modules, so this
    # works from any directory and the workers need the package, not a checkout.
    with resources.as_file(resources.files("hpo.flows") / "prefect.yaml") as prefect_yaml:
        proc = subprocess.run(
            prefect_command(
                "--no-prompt",
                "deploy",
                "--prefect-file",
                str(prefect_yaml),
                *([arg for n in names for arg in ("--name", n)] or ["--all"]),
            ),
            check=False,
        )
    if proc.returncode != 0:
        raise ConfigError(
            f"`prefect deploy` failed with exit code {proc.returncode} (its output is above)",
            fix="create the pools first: hpo pools create",
        )
    return 0
