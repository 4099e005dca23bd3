"""The built-in objectives train for real on small bundled datasets (a few seconds in all)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna
import pytest

from hpo.errors import ConfigError
from hpo.workers.objectives.base import EvaluationSetup, Objective, TrialContext
from hpo.workers.objectives.lightgbm_objective import lightgbm_objective
from hpo.workers.objectives.torch_mlp import torch_mlp_objective
from hpo.workers.objectives.xgboost_objective import xgboost_objective

ObjectiveFn = Callable[[dict[str, Any], TrialContext], float]

# objective, dataset, metric, small params, (low, high) plausible score
CASES: dict[str, tuple[ObjectiveFn, str, str, dict[str, Any], tuple[float, float]]] = {
    "xgboost": (
        xgboost_objective,
        "breast_cancer",
        "roc_auc",
        {"n_estimators": 20, "max_depth": 3, "subsample": 0.8, "colsample_bytree": 0.8},
        (0.9, 1.0),
    ),
    "lightgbm": (
        lightgbm_objective,
        "wine",
        "accuracy",
        {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5, "subsample": 0.8},
        (0.8, 1.0),
    ),
    "torch_mlp": (
        torch_mlp_objective,
        "digits",
        "accuracy",
        {"epochs": 3, "learning_rate": 5e-3, "hidden_units": 64, "batch_size": 32},
        (0.8, 1.0),
    ),
}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, float]] = []

    def __call__(self, step: int, value: float) -> None:
        self.calls.append((step, value))


def _context(dataset: str, metric: str, report: Callable[[int, float], None]) -> TrialContext:
    setup = EvaluationSetup(dataset=dataset, metric=metric, cv_folds=3, seed=7)
    return TrialContext(trial_number=0, device="cpu", setup=setup, threads=1, report=report)


@pytest.mark.parametrize("name", sorted(CASES))
def test_trains_scores_reports_and_is_deterministic(name: str) -> None:
    objective, dataset, metric, params, (low, high) = CASES[name]
    assert isinstance(objective, Objective)
    first_report, second_report = Recorder(), Recorder()

    first = objective(params, _context(dataset, metric, first_report))
    second = objective(params, _context(dataset, metric, second_report))

    assert isinstance(first, float) and math.isfinite(first)
    assert low < first <= high
    assert first == second
    steps = [step for step, _ in first_report.calls]
    assert len(steps) >= 2
    assert steps == sorted(set(steps)), "steps must strictly increase"
    assert all(math.isfinite(v) for _, v in first_report.calls)
    assert first_report.calls == second_report.calls


def test_boosting_reports_every_ten_rounds_and_at_the_end() -> None:
    report = Recorder()
    xgboost_objective({"n_estimators": 25}, _context("breast_cancer", "log_loss", report))
    assert [s for s, _ in report.calls] == [10, 20, 25]
    report = Recorder()
    lightgbm_objective({"n_estimators": 20}, _context("iris", "f1_macro", report))
    assert [s for s, _ in report.calls] == [10, 20]


def test_torch_reports_once_per_epoch() -> None:
    report = Recorder()
    torch_mlp_objective({"epochs": 2}, _context("iris", "accuracy", report))
    assert [s for s, _ in report.calls] == [1, 2]


@pytest.mark.parametrize("name", sorted(CASES))
def test_trial_pruned_from_report_propagates(name: str) -> None:
    objective, dataset, metric, params, _ = CASES[name]
    calls: list[int] = []

    def prune(step: int, value: float) -> None:
        calls.append(step)
        raise optuna.TrialPruned(f"pruned at step {step}")

    with pytest.raises(optuna.TrialPruned):
        objective(params, _context(dataset, metric, prune))
    assert len(calls) == 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_regression_task(name: str) -> None:
    objective = CASES[name][0]
    small = {"xgboost": {"n_estimators": 20}, "lightgbm": {"n_estimators": 20}}
    params = small.get(name, {"epochs": 3, "learning_rate": 1e-2})
    score = objective(params, _context("diabetes", "r2", lambda step, value: None))
    assert math.isfinite(score) and 0.1 < score < 1.0


@pytest.mark.parametrize("name", sorted(CASES))
def test_unknown_param_is_rejected_with_accepted_names(name: str) -> None:
    objective = CASES[name][0]
    with pytest.raises(ConfigError) as info:
        objective({"n_trees": 5}, _context("iris", "accuracy", lambda step, value: None))
    message = str(info.value)
    assert "'n_trees'" in message and repr(name) in message
    assert "learning_rate" in message


def test_metric_must_fit_the_dataset() -> None:
    with pytest.raises(ConfigError, match="roc_auc"):
        xgboost_objective({}, _context("wine", "roc_auc", lambda step, value: None))


@pytest.mark.parametrize(
    ("param", "value"), [("activation", "swish"), ("optimizer", "lbfgs"), ("dropout", 1.0)]
)
def test_torch_rejects_bad_values(param: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=param):
        torch_mlp_objective({param: value}, _context("iris", "accuracy", lambda s, v: None))


def test_torch_sgd_tanh_dropout_runs() -> None:
    params = {
        "epochs": 3,
        "optimizer": "sgd",
        "activation": "tanh",
        "dropout": 0.1,
        "learning_rate": 0.05,
        "n_layers": 1,
    }
    score = torch_mlp_objective(params, _context("breast_cancer", "roc_auc", lambda s, v: None))
    assert 0.9 < score <= 1.0


def test_intermediate_values_use_the_pruning_metric_oriented_like_the_study() -> None:
    """An accuracy study pruned on log loss reports minus the fold's log loss (so that higher is
    better, as for accuracy); the trial's value is still the accuracy."""
    params = {"n_estimators": 30, "num_leaves": 8}
    plain, on_log_loss = Recorder(), Recorder()
    accuracy = lightgbm_objective(params, _context("wine", "accuracy", plain))
    setup = EvaluationSetup(
        dataset="wine", metric="accuracy", cv_folds=3, seed=7, pruning_metric="log_loss"
    )
    context = TrialContext(trial_number=0, device="cpu", setup=setup, report=on_log_loss)
    assert lightgbm_objective(params, context) == accuracy
    assert [s for s, _ in on_log_loss.calls] == [s for s, _ in plain.calls]
    assert all(0.0 < v <= 1.0 for _, v in plain.calls)  # accuracies
    losses = [-v for _, v in on_log_loss.calls]
    assert all(v > 0.0 for v in losses)
    assert losses[-1] < losses[0]  # the loss falls as rounds are added
