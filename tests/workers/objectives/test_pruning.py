"""The pruners a spec names stop bad trials early on a real XGBoost study (the service's trial
loop on the study store): pruned trials ran fewer boosting rounds than asked for."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from hpo.search_spaces.loader import parse_spec
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.trial_runner import WorkerIdentity, run_worker


def _spec(pruner: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "xgb-prune",
        "objective": "xgboost",
        "dataset": "breast_cancer",
        "metric": "roc_auc",
        "cv_folds": 3,
        "pruner": pruner,
        "params": {
            "n_estimators": {"type": "int", "low": 40, "high": 80, "step": 20},
            "max_depth": {"type": "int", "low": 2, "high": 4},
            "learning_rate": {"type": "float", "low": 0.005, "high": 0.3, "log": True},
        },
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "pruner",
    [
        {"name": "median", "options": {"n_startup_trials": 3}},
        {"name": "successive_halving"},
        {"name": "hyperband"},
    ],
    ids=lambda p: p["name"],
)
def test_pruners_named_in_the_spec_prune_xgboost_trials(
    pg_url: str, study_name: str, pruner: dict[str, Any]
) -> None:
    spec = parse_spec(_spec(pruner))
    plan = StudyPlan(study_name=study_name, spec=spec, sampler="tpe", n_trials=16, seed=0)
    open_study(plan, get_storage())
    report = run_worker(plan, WorkerIdentity(name="w"))
    study = optuna.load_study(study_name=study_name, storage=pg_url)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert report.counts.pruned == len(pruned) > 0
    assert report.counts.finished == 16
    for trial in pruned:
        assert trial.last_step is not None
        assert trial.last_step < trial.params["n_estimators"]  # stopped on the first fold
        assert trial.last_step % 10 == 0  # at a report, every 10 rounds
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(t.last_step == t.params["n_estimators"] for t in complete)
