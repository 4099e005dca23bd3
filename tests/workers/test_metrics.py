from __future__ import annotations

import math

import numpy as np
import pytest

from hpo.errors import ConfigError, UnknownNameError
from hpo.workers.cv import cross_validate, merge_params, score_output
from hpo.workers.datasets import load_dataset
from hpo.workers.metrics import (
    Metric,
    check_metric_fits,
    get_metric,
    metric_names,
    metrics_for_task,
)
from hpo.workers.objectives.base import EvaluationSetup


def test_registry_directions_and_tasks() -> None:
    assert metric_names() == ["accuracy", "f1_macro", "log_loss", "mae", "r2", "rmse", "roc_auc"]
    expected = {
        "roc_auc": ("maximize", {"binary"}, True),
        "accuracy": ("maximize", {"binary", "multiclass"}, False),
        "f1_macro": ("maximize", {"binary", "multiclass"}, False),
        "log_loss": ("minimize", {"binary", "multiclass"}, True),
        "rmse": ("minimize", {"regression"}, False),
        "mae": ("minimize", {"regression"}, False),
        "r2": ("maximize", {"regression"}, False),
    }
    for name, (direction, tasks, needs_proba) in expected.items():
        metric = get_metric(name)
        assert isinstance(metric, Metric)
        assert (metric.direction, set(metric.tasks), metric.needs_proba) == (
            direction,
            tasks,
            needs_proba,
        )


def test_scores_on_known_values() -> None:
    y = np.array([0, 1, 1, 0])
    assert get_metric("accuracy").score(y, np.array([0, 1, 0, 0])) == pytest.approx(0.75)
    assert get_metric("roc_auc").score(y, np.array([0.1, 0.9, 0.8, 0.2])) == pytest.approx(1.0)
    assert get_metric("f1_macro").score(y, y) == pytest.approx(1.0)
    assert get_metric("log_loss").score(y, np.full((4, 2), 0.5)) == pytest.approx(math.log(2))
    t, p = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])
    assert get_metric("rmse").score(t, p) == pytest.approx(math.sqrt(4 / 3))
    assert get_metric("mae").score(t, p) == pytest.approx(2 / 3)
    assert get_metric("r2").score(t, t) == pytest.approx(1.0)


def test_unknown_metric_lists_the_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_metric("auc")
    assert "unknown metric 'auc'" in str(info.value)
    assert "roc_auc" in str(info.value) and "rmse" in str(info.value)


@pytest.mark.parametrize(
    ("metric", "dataset", "fits"),
    [
        ("rmse", "wine", ["accuracy", "f1_macro", "log_loss"]),
        ("roc_auc", "wine", ["accuracy", "f1_macro", "log_loss"]),
        ("accuracy", "diabetes", ["mae", "r2", "rmse"]),
    ],
)
def test_check_metric_fits_rejects_and_says_what_fits(
    metric: str, dataset: str, fits: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        check_metric_fits(metric, dataset)
    message = str(info.value)
    assert repr(metric) in message and repr(dataset) in message
    assert ", ".join(fits) in message
    assert metrics_for_task(load_dataset(dataset).task) == fits


def test_check_metric_fits_accepts_objects_and_names() -> None:
    check_metric_fits(get_metric("roc_auc"), load_dataset("breast_cancer"))
    check_metric_fits("log_loss", "digits")
    check_metric_fits("r2", "synthetic_regression")


def test_score_output_converts_raw_model_output() -> None:
    binary = load_dataset("breast_cancer")
    y = np.array([0, 1, 1])
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert score_output(get_metric("accuracy"), binary, y, proba) == pytest.approx(2 / 3)
    assert score_output(get_metric("roc_auc"), binary, y, proba) == pytest.approx(1.0)
    # a 1-D positive-class probability is accepted for binary tasks
    assert score_output(get_metric("roc_auc"), binary, y, proba[:, 1]) == pytest.approx(1.0)
    multi = load_dataset("iris")
    y3 = np.array([0, 1, 2])
    one_hot = np.eye(3, dtype=np.float32) * 0.98 + 0.0066
    assert score_output(get_metric("log_loss"), multi, y3, one_hot) < 0.05


def test_cross_validate_is_reproducible_and_uses_stratified_folds() -> None:
    setup = EvaluationSetup(dataset="iris", metric="accuracy", cv_folds=5, seed=3)
    seen: list[tuple[int, int, list[int]]] = []

    def majority(
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_valid: np.ndarray,
        y_valid: np.ndarray,
        fold: int,
    ) -> np.ndarray:
        seen.append((fold, len(y_valid), np.bincount(y_valid, minlength=3).tolist()))
        proba = np.zeros((len(X_valid), 3))
        proba[:, int(np.bincount(y_train).argmax())] = 1.0
        return proba

    score = cross_validate(setup, majority)
    assert score == pytest.approx(1 / 3)
    assert [s[0] for s in seen] == [0, 1, 2, 3, 4]
    assert all(s[1] == 30 and s[2] == [10, 10, 10] for s in seen)

    order: list[list[float]] = []

    def record(
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_valid: np.ndarray,
        y_valid: np.ndarray,
        fold: int,
    ) -> np.ndarray:
        order.append(X_valid[:, 0].tolist())
        return np.full(len(y_valid), float(np.mean(y_train)))

    regression = EvaluationSetup(dataset="diabetes", metric="mae", cv_folds=3, seed=1)
    first = cross_validate(regression, record)
    second = cross_validate(regression, record)
    assert first == second and math.isfinite(first)
    assert order[:3] == order[3:]


def test_cross_validate_rejects_bad_folds_and_metric() -> None:
    def never(*args: object) -> np.ndarray:
        raise AssertionError("must not train")

    with pytest.raises(ConfigError, match="cv_folds"):
        cross_validate(EvaluationSetup("iris", "accuracy", cv_folds=1), never)
    with pytest.raises(ConfigError, match="smallest class"):
        cross_validate(EvaluationSetup("iris", "accuracy", cv_folds=51), never)
    with pytest.raises(ConfigError, match="rmse"):
        cross_validate(EvaluationSetup("iris", "rmse", cv_folds=3), never)


def test_merge_params_rejects_unknown_names() -> None:
    assert merge_params("demo", {"a": 2}, {"a": 1, "b": 0}) == {"a": 2, "b": 0}
    with pytest.raises(ConfigError) as info:
        merge_params("demo", {"c": 1}, {"a": 1, "b": 0})
    assert "'c'" in str(info.value) and "accepted params: a, b" in str(info.value)
