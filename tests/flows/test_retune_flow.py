"""The scheduled re-tune: a new study per run, warm-started from the previous run's best
trials, promoted through the gate; and its nightly schedule in prefect.yaml."""

from __future__ import annotations

import uuid
from datetime import UTC
from importlib import resources
from pathlib import Path

import optuna
import yaml
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.client.schemas.objects import FlowRun

from hpo.flows.retune import retune_flow
from hpo.infra.local_fleet import LocalFleet
from hpo.promotions import registry
from hpo.store import get_storage
from tests.support import prefect_client, wait_for


def test_retune_warm_starts_and_promotes(prefect_server: None, pg_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "quad.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "quad",
                "objective": "tests.objectives_fixture:quadratic",
                "sampler": "random",
                "params": {"x": {"type": "float", "low": -3.0, "high": 5.0}},
            }
        )
    )
    pipeline = f"quad-{uuid.uuid4().hex[:6]}"
    first = retune_flow(spec_name=str(spec), pipeline=pipeline, n_trials=6, workers=2,
                        reeval_seeds=1)  # fmt: skip
    assert first.decision == "promoted"
    second = retune_flow(spec_name=str(spec), pipeline=pipeline, n_trials=6, workers=2,
                         warm_start_top_k=3, reeval_seeds=1)  # fmt: skip
    assert second.study_name != first.study_name
    assert second.study_name.startswith(f"{pipeline}-staging-")

    storage = get_storage()
    previous = optuna.load_study(study_name=first.study_name, storage=storage)
    best3 = sorted(t.value for t in previous.trials if t.value is not None)[:3]
    study = optuna.load_study(study_name=second.study_name, storage=storage)
    warm = [t for t in study.trials if "warm_start_from" in t.user_attrs]
    assert len(warm) == 3
    assert sorted(t.value for t in warm if t.value is not None) == best3  # same params again
    assert len(study.trials) == 6  # the warm start is inside the budget, not on top of it
    decisions = [p.decision for p in registry.history(storage.engine, pipeline)]
    assert decisions[-1] == "promoted" and len(decisions) == 2


def test_the_nightly_retune_is_scheduled_in_prefect_yaml() -> None:
    config = yaml.safe_load((resources.files("hpo.flows") / "prefect.yaml").read_text())
    retune = next(d for d in config["deployments"] if d["entrypoint"].endswith(".retune_flow"))
    assert retune["schedules"][0]["cron"] == "0 2 * * *"
    assert retune["work_pool"]["name"] == "hpo-control"
    train = next(d for d in config["deployments"] if d["name"] == "train-best")
    assert train["triggers"][0]["expect"] == ["hpo.config.promoted"]


def test_the_server_schedules_the_nightly_retune(shared_fleet: LocalFleet) -> None:
    """Deployed with `hpo deploy`, the nightly re-tune gets its runs from the Prefect server's
    scheduler: Scheduled runs at 02:00 UTC. (With SQLAlchemy 2.1, Prefect 3.8's scheduler fails
    on every insert and a schedule never fires: pyproject.toml keeps SQLAlchemy below 2.1.)"""

    def scheduled() -> list[FlowRun]:
        with prefect_client(shared_fleet) as client:
            runs: list[FlowRun] = client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    name=DeploymentFilterName(any_=["retune-breast-cancer-nightly"])
                )
            )
        return runs

    runs = wait_for(scheduled, 60, "the scheduler to create the nightly re-tune's runs")
    assert all(r.state is not None and r.state.is_scheduled() for r in runs)
    starts = [r.expected_start_time.astimezone(UTC) for r in runs if r.expected_start_time]
    assert len(starts) == len(runs)
    assert {(t.hour, t.minute) for t in starts} == {(2, 0)}
    assert len({t.date() for t in starts}) == len(starts)  # one run a night
