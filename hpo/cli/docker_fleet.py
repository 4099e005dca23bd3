"""The Docker side of ``hpo pools create --type docker`` and ``hpo deploy --target docker``.

Everything is checked before anything is created on the Prefect server: prefect-docker is
installed, the Docker API at ``DOCKER_HOST`` answers, it holds the image, the store-URL file
exists on this (the worker) host, and a GPU pool has an NVIDIA runtime behind it. Each failure is
one line and exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError


def add_pool_arguments(create: Any) -> None:
    """The ``--type docker`` flags of ``hpo pools create``."""
    create.add_argument(
        "--type", dest="pool_type", default="process",
        help="process (default: flow runs are processes of the worker host) or docker",
    )  # fmt: skip
    create.add_argument("--image", help="docker: the CPU image (default hpo-worker:<version>-cpu)")
    create.add_argument("--gpu-image", help="docker: the GPU image (default hpo-worker:<v>-gpu)")
    create.add_argument(
        "--url-file", default=None,
        help="docker: the worker host's file holding the store URL (default /etc/hpo/database-url)",
    )  # fmt: skip
    create.add_argument("--network", default="host", help="docker: network mode (default host)")
    create.add_argument(
        "--pull-policy", default="IfNotPresent", choices=["IfNotPresent", "Always", "Never"]
    )
    create.add_argument("--memory", help="docker: memory limit per container, e.g. 4g")
    create.add_argument("--cpus", type=float, help="docker: CPUs per container, e.g. 1.5")
    create.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE",
        help="docker: extra environment of the containers (no secrets)",
    )  # fmt: skip
    create.add_argument(
        "--volume", action="append", default=[], metavar="SRC:DST[:ro]",
        help="docker: extra bind mount, e.g. your objectives' modules (with --env PYTHONPATH=DST)",
    )  # fmt: skip


def check_type(value: str) -> None:
    if value not in ("process", "docker"):
        raise ConfigError(
            f"hpo pools create --type: unknown pool type {value!r}",
            fix="use --type process or --type docker (Kubernetes: see infra/kubernetes/)",
        )


def docker_pools_create(args: argparse.Namespace) -> int:
    from hpo.cli.image import default_tag
    from hpo.infra.containers import docker_api_client, require_gpus, require_image
    from hpo.infra.docker_pools import (
        DEFAULT_URL_FILE,
        DockerPoolOptions,
        create_docker_pools,
        docker_job_template,
    )

    kinds = tuple(k for k in (args.kind or ("cpu", "gpu")) if k != "control")
    if not kinds:
        raise ConfigError(
            "--type docker makes the trial-worker pools (cpu, gpu); hpo-control stays a process "
            "pool",
            fix="hpo pools create --kind control (without --type docker)",
        )
    url_file = args.url_file or DEFAULT_URL_FILE
    if not Path(url_file).is_file():
        raise ConfigError(
            f"--url-file {url_file}: no such file on this worker host",
            fix="write the store URL into it (chmod 0400, owner uid 10001) or pass --url-file",
        )
    env = []
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--env {item!r}: expected KEY=VALUE", fix="e.g. --env FOO=bar")
        env.append((key, value))
    common: dict[str, Any] = dict(
        url_file=url_file, network_mode=args.network or None, pull_policy=args.pull_policy,
        mem_limit=args.memory, cpus=args.cpus, env=tuple(env), volumes=tuple(args.volume),
    )  # fmt: skip
    cpu = DockerPoolOptions(image=args.image or default_tag(False), **common)
    gpu = DockerPoolOptions(image=args.gpu_image or default_tag(True), gpu=True, **common)
    for options in (cpu, gpu):
        docker_job_template(options)  # bad options fail here, before the server is touched
    client = docker_api_client()
    for kind in kinds:
        options = gpu if kind == "gpu" else cpu
        if kind == "gpu":
            require_gpus(client)
        if options.pull_policy != "Always":  # else the worker pulls it from a registry
            require_image(client, options.image)
    for name in create_docker_pools(kinds, cpu, gpu):
        print(f"work pool {name}: ready (docker)")
    return 0


def check_docker_deploy() -> list[str]:
    """The deployments ``hpo deploy --target docker`` creates: the trial workers of the pools
    that exist as Docker pools (the coordinators run where ``hpo tune`` runs; a pool of another
    type, e.g. hpo-gpu kept a process pool, keeps the deployment plain ``hpo deploy`` made)."""
    from hpo.infra.docker_pools import pool_type

    names = [f"trial-worker-{k}" for k in ("cpu", "gpu") if pool_type(f"hpo-{k}") == "docker"]
    if not names:
        raise ConfigError(
            "no Docker work pool hpo-cpu or hpo-gpu on the Prefect server",
            fix="create them first: hpo pools create --type docker",
        )
    return names
