"""The deployments the package ships (hpo/flows/prefect.yaml) name installed modules that load
as Prefect flows, pull nothing, and match the names the pools flow launches. No server needed."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml
from prefect.flows import Flow, load_flow_from_entrypoint

from hpo.flows.tune_pools import deployment_name


def _config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(
        (resources.files("hpo.flows") / "prefect.yaml").read_text(encoding="utf-8")
    )
    return config


def test_nothing_is_pulled() -> None:
    assert _config()["pull"] == []  # explicit: Prefect would otherwise add its own pull step


@pytest.mark.parametrize("deployment", _config()["deployments"], ids=lambda d: d["name"])
def test_entrypoints_are_installed_modules(deployment: dict[str, Any]) -> None:
    entrypoint = deployment["entrypoint"]
    # Dotted, no colon: Prefect's worker imports a module path after the (empty) pull steps,
    # where `file.py:flow` would make it look for files in its working directory.
    assert entrypoint.startswith("hpo.flows.") and ":" not in entrypoint
    flow = load_flow_from_entrypoint(entrypoint, use_placeholder_flow=False)
    assert isinstance(flow, Flow)


def test_the_pools_flow_launches_deployments_that_exist() -> None:
    names = {
        f"{load_flow_from_entrypoint(d['entrypoint']).name}/{d['name']}": d
        for d in _config()["deployments"]
    }
    for pool in ("cpu", "gpu"):
        deployment = names[deployment_name(pool)]
        assert deployment["work_pool"]["name"] == f"hpo-{pool}"
        assert deployment["parameters"] == {"pool": pool}
