"""The scheduled re-tune: a new study per run, warm-started from the previous run's best
trials, promoted through the gate; and its nightly schedule in prefect.yaml."""

from __future__ import annotations

import uuid
from importlib import resources
from pathlib import Path

import optuna
import yaml

from hpo.flows.retune import retune_flow
from hpo.promotions import registry
from hpo.store import get_storage


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
