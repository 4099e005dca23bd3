"""Work pools and GPU slots on the Prefect server.

Three process-type pools, defined by the base job templates beside this file:

* ``hpo-cpu`` (``pool_templates/cpu.json``): flow runs get ``HPO_WORKER_DEVICE=cpu``.
* ``hpo-gpu`` (``pool_templates/gpu.json``): flow runs get ``HPO_WORKER_DEVICE=cuda``. Start one
  worker per GPU (``hpo worker start --pool gpu --gpu I``): the worker pins its device with
  ``CUDA_VISIBLE_DEVICES=I``, and every trial-worker flow run it starts occupies the strict
  global concurrency limit ``hpo-gpu-<host>-<I>`` (limit 1), so a GPU never runs two trial
  workers at once, even with several Prefect workers or a raised ``--limit``.
* ``hpo-control`` (CPU template): coordinator flows (``hpo-tune-pools``), so a coordinator
  waiting for its trial workers never holds the slot one of them needs.

Creating them is idempotent: templates are overwritten, limits kept.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hpo.errors import ConfigError

PoolKind = Literal["cpu", "gpu", "control"]
_TEMPLATES = Path(__file__).resolve().parent / "pool_templates"


@dataclass(frozen=True)
class PoolSpec:
    kind: PoolKind
    name: str
    template: Path
    description: str

    def base_job_template(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.template.read_text(encoding="utf-8"))
        return data


POOLS: dict[PoolKind, PoolSpec] = {
    "cpu": PoolSpec("cpu", "hpo-cpu", _TEMPLATES / "cpu.json", "HPO trial workers on CPU"),
    "gpu": PoolSpec("gpu", "hpo-gpu", _TEMPLATES / "gpu.json", "HPO trial workers, one per GPU"),
    # Coordinators (tune, compare, promote flows) run here, never in a trial worker's slot.
    "control": PoolSpec("control", "hpo-control", _TEMPLATES / "cpu.json", "HPO coordinators"),
}


def pool(kind: str) -> PoolSpec:
    try:
        return POOLS[kind]  # type: ignore[index]
    except KeyError:
        raise ConfigError(
            f"unknown pool kind {kind!r}", fix=f"use one of: {', '.join(POOLS)}"
        ) from None


def gpu_slot_name(gpu_index: int, host: str | None = None) -> str:
    """The global concurrency limit that stands for one GPU of one host."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", host or socket.gethostname())
    return f"hpo-gpu-{host}-{gpu_index}"


def create_pools(kinds: tuple[PoolKind, ...] = ("cpu", "gpu", "control")) -> list[str]:
    """Create or update the work pools on the Prefect server (``PREFECT_API_URL``)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists

    names = []
    with get_client(sync_client=True) as client:
        for kind in kinds:
            spec = POOLS[kind]
            template = spec.base_job_template()
            try:
                client.create_work_pool(
                    WorkPoolCreate(
                        name=spec.name,
                        type="process",
                        base_job_template=template,
                        description=spec.description,
                    )
                )
            except ObjectAlreadyExists:
                client.update_work_pool(
                    spec.name,
                    WorkPoolUpdate(base_job_template=template, description=spec.description),
                )
            names.append(spec.name)
    return names


def ensure_gpu_slot(gpu_index: int, host: str | None = None) -> str:
    """Create the strict one-slot limit of a GPU if it does not exist; returns its name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    name = gpu_slot_name(gpu_index, host)
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )
            except ObjectAlreadyExists:
                pass
    return name
