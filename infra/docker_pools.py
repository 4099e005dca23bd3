"""Docker work pools: ``hpo-cpu`` and ``hpo-gpu`` whose flow runs are containers of the HPO image.

``hpo pools create --type docker`` makes them from prefect-docker's own base job template with
the HPO defaults filled in (:func:`docker_job_template`): the image, the network, resources, and
for GPU containers one GPU each (a Docker device request). Coordinators stay on the process pool
``hpo-control`` (they are short and need no image).

The study store's URL reaches a container as a file, never as a value Prefect stores: the worker
host keeps it in ``url_file`` (readable by uid 10001, the image's user), the template bind-mounts
it read-only at :data:`SECRET_PATH` and sets ``HPO_DATABASE_URL_FILE`` to that path. Job
variables, flow-run parameters, events and logs hold the two paths, not the URL.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

from hpo.errors import ConfigError
from hpo.infra.containers import prefect_docker_missing

SECRET_PATH = "/run/secrets/hpo-database-url"
DEFAULT_URL_FILE = "/etc/hpo/database-url"
PULL_POLICIES = ("IfNotPresent", "Always", "Never")


@dataclass(frozen=True)
class DockerPoolOptions:
    """What a Docker pool's containers get (``hpo pools create --type docker`` flags)."""

    image: str
    url_file: str = DEFAULT_URL_FILE
    network_mode: str | None = "host"
    pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    mem_limit: str | None = None
    cpus: float | None = None
    gpu: bool = False
    env: tuple[tuple[str, str], ...] = ()
    volumes: tuple[str, ...] = ()  # e.g. users' objective modules, with PYTHONPATH in env


def docker_job_template(options: DockerPoolOptions) -> dict[str, Any]:
    """prefect-docker's base job template with the HPO defaults set."""
    try:
        from prefect_docker.worker import DockerWorker
    except ImportError:
        raise prefect_docker_missing() from None
    if options.url_file.startswith(".") or not options.url_file.startswith("/"):
        raise ConfigError(
            f"--url-file must be an absolute path on the worker host, got {options.url_file!r}",
            fix="pass the file's absolute path, e.g. --url-file /etc/hpo/database-url",
        )
    template: dict[str, Any] = copy.deepcopy(DockerWorker.get_default_base_job_template())
    props: dict[str, Any] = template["variables"]["properties"]
    env = {
        "HPO_WORKER_DEVICE": "cuda" if options.gpu else "cpu",
        "HPO_DATABASE_URL_FILE": SECRET_PATH,
        # The image's own: the worker passes its PREFECT_HOME on, a path of the worker host.
        "PREFECT_HOME": "/home/hpo/.prefect",
        # The service's own log lines (trials, leases) go to the flow run's logs in the UI.
        "PREFECT_LOGGING_EXTRA_LOGGERS": "hpo",
        **dict(options.env),
    }
    if "HPO_DATABASE_URL" in env:
        raise ConfigError(
            "a store URL must not be a job variable (the UI shows them)",
            fix="keep it in the worker host's file given by --url-file",
        )
    create_kwargs: dict[str, Any] = {}
    if options.cpus:
        create_kwargs["nano_cpus"] = int(options.cpus * 1e9)
    if options.gpu:
        # One GPU per trial-worker container (the NVIDIA Container Toolkit picks it).
        create_kwargs["device_requests"] = [
            {"driver": "nvidia", "count": 1, "capabilities": [["gpu"]]}
        ]
    defaults: dict[str, Any] = {
        "image": options.image,
        "image_pull_policy": options.pull_policy,
        "env": env,
        "volumes": [f"{options.url_file}:{SECRET_PATH}:ro", *options.volumes],
        # Never auto_remove: a container gone before the worker reads its exit code leaves its
        # flow run RUNNING instead of CRASHED, and the coordinator never replaces it.
        "auto_remove": False,
        "stream_output": True,
        "container_create_kwargs": create_kwargs or None,
    }
    if options.network_mode:
        defaults["network_mode"] = options.network_mode
    if options.mem_limit:
        defaults["mem_limit"] = options.mem_limit
    for key, value in defaults.items():
        if value is not None:
            props[key]["default"] = value
    props["env"]["description"] = (
        "Environment of the trial-worker container. Never put the store URL here (the UI shows "
        f"job variables): the worker host's file is mounted at {SECRET_PATH}."
    )
    return template


def create_docker_pools(
    kinds: tuple[str, ...], cpu: DockerPoolOptions, gpu: DockerPoolOptions
) -> list[str]:
    """Create or replace ``hpo-cpu`` / ``hpo-gpu`` as Docker pools (``PREFECT_API_URL``). A
    process pool of the same name is deleted first: a pool's type cannot change."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound

    from hpo.infra.pools import POOLS

    names = []
    with get_client(sync_client=True) as client:
        for kind in kinds:
            spec = POOLS[kind]  # type: ignore[index]
            template = docker_job_template(gpu if kind == "gpu" else cpu)
            description = spec.description + " (Docker containers of the HPO image)"
            try:
                existing = client.read_work_pool(spec.name)
            except ObjectNotFound:
                existing = None
            if existing is not None and existing.type != "docker":
                client.delete_work_pool(spec.name)
                existing = None
            if existing is None:
                client.create_work_pool(
                    WorkPoolCreate(
                        name=spec.name,
                        type="docker",
                        base_job_template=template,
                        description=description,
                    )
                )
            else:
                client.update_work_pool(
                    spec.name,
                    WorkPoolUpdate(base_job_template=template, description=description),
                )
            names.append(spec.name)
    return names


def pool_type(name: str) -> str | None:
    """The type of work pool ``name`` on the server, None when it does not exist."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return str(client.read_work_pool(name).type)
        except ObjectNotFound:
            return None
