"""The deployments the package ships (hpo/flows/prefect.yaml) name installed modules that load
as Prefect flows, pull nothing, and match the names the pools flow launches. No server needed."""

from __future__ import annotations

import fnmatch
import re
from importlib import resources
from typing import Any

import pytest
import yaml
from prefect.flows import Flow, load_flow_from_entrypoint

from hpo.flows.promote import PROMOTED_EVENT, promoted_event
from hpo.flows.tune_pools import deployment_name
from hpo.promotions.registry import Promotion

_TEMPLATE = re.compile(r"\{\{ event\.(resource|payload)(?:\['([^']+)'\]|\.(\w+)) \}\}")


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


def test_trial_worker_parameters_are_checked_by_the_flow_not_the_server() -> None:
    """The server skips its JSON-schema check of trial-worker runs' parameters (the largest share
    of its CPU per run created, prefect.yaml); the flow still refuses a malformed plan when the
    run starts (Prefect validates a flow's parameters against its signature)."""
    from prefect.exceptions import ParameterTypeError

    for name in ("trial-worker-cpu", "trial-worker-gpu"):
        (deployment,) = (d for d in _config()["deployments"] if d["name"] == name)
        assert deployment["enforce_parameter_schema"] is False
        flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
        with pytest.raises(ParameterTypeError, match="plan"):
            flow.validate_parameters({"plan": {"study_name": 3}, "pool": "cpu"})
    others = [d for d in _config()["deployments"] if not d["name"].startswith("trial-worker")]
    assert all(d.get("enforce_parameter_schema", True) for d in others)  # what users start


def test_a_promotion_event_fires_the_train_best_trigger() -> None:
    """The event ``hpo-promote`` emits matches the trigger of ``train-best`` and carries every
    value its parameter templates read."""
    fields = dict.fromkeys(Promotion.model_fields)
    promotion = Promotion.model_construct(
        **{**fields, "id": 7, "pipeline": "breast-cancer", "stage": "staging"}
    )
    resource, payload = promoted_event(promotion)
    (trigger,) = next(d for d in _config()["deployments"] if d["name"] == "train-best")["triggers"]
    assert trigger["expect"] == [PROMOTED_EVENT]
    for key, pattern in trigger["match"].items():
        assert fnmatch.fnmatchcase(resource[key], pattern)
    values = {"resource": resource, "payload": payload}
    rendered = {}
    for name, template in trigger["parameters"].items():
        # "{{ event.resource['hpo.stage'] }}" or "{{ event.payload.promotion_id }}"
        m = _TEMPLATE.fullmatch(template)
        assert m is not None, template
        rendered[name] = values[m.group(1)][m.group(2) or m.group(3)]
    assert rendered == {"pipeline": "breast-cancer", "stage": "staging", "promotion_id": 7}
