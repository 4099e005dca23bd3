"""K-fold cross-validation shared by the built-in objectives.

A built-in objective hands :func:`cross_validate` one ``fit_predict`` function; it is called
once per fold with that fold's train and validation rows and returns its raw output on the
validation rows: class probabilities ``(n, n_classes)`` for classification (a 1-D
positive-class probability is accepted for binary tasks), predicted values ``(n,)`` for
regression. :func:`score_output` turns that output into what the metric needs. Folds are
shuffled with ``random_state=setup.seed``, so a fixed seed gives the same folds everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hpo.errors import ConfigError
from hpo.workers.datasets import Dataset, load_dataset
from hpo.workers.metrics import Metric, check_metric_fits, get_metric
from hpo.workers.objectives.base import EvaluationSetup

FitPredict = Callable[
    [NDArray[np.float32], NDArray[Any], NDArray[np.float32], NDArray[Any], int], NDArray[Any]
]


def resolve_setup(setup: EvaluationSetup) -> tuple[Dataset, Metric]:
    """Load the setup's dataset and metric and check they fit each other."""
    dataset = load_dataset(setup.dataset)
    metric = get_metric(setup.metric)
    check_metric_fits(metric, dataset)
    return dataset, metric


def pruning_score(
    setup: EvaluationSetup, dataset: Dataset, metric: Metric
) -> Callable[[NDArray[Any], NDArray[Any]], float]:
    """What a built-in objective reports for pruning, as ``score(y_true, output)``: the setup's
    ``pruning_metric`` (default: its metric), oriented like ``metric`` (negated when the two
    metrics' directions differ), since a pruner compares intermediate values in the study's
    direction. A smooth score such as ``log_loss`` ranks trials on one fold where accuracy, on a
    few dozen samples, mostly ties."""
    signal = get_metric(setup.pruning_metric) if setup.pruning_metric else metric
    check_metric_fits(signal, dataset)
    sign = 1.0 if signal.direction == metric.direction else -1.0

    def score(y_true: NDArray[Any], output: NDArray[Any]) -> float:
        return sign * score_output(signal, dataset, y_true, output)

    return score


def score_output(
    metric: Metric, dataset: Dataset, y_true: NDArray[Any], output: NDArray[Any]
) -> float:
    """Score a model's raw output (see the module doc) on ``y_true`` with ``metric``."""
    out = np.asarray(output, dtype=np.float64)
    if not dataset.is_classification:
        return metric.score(y_true, out.reshape(-1))
    if out.ndim == 2:
        # float32 model output summed in float64 is off by ~1e-7; log_loss would warn.
        proba = out / out.sum(axis=1, keepdims=True)
    else:
        proba = np.column_stack([1.0 - out, out])
    if not metric.needs_proba:
        return metric.score(y_true, np.argmax(proba, axis=1))
    if dataset.task == "binary":
        return metric.score(y_true, proba[:, 1])
    return metric.score(y_true, proba)


def cross_validate(setup: EvaluationSetup, fit_predict: FitPredict) -> float:
    """Mean validation score of ``fit_predict`` over ``setup.cv_folds`` shuffled folds.

    Stratified folds for classification, plain folds for regression.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    dataset, metric = resolve_setup(setup)
    k = setup.cv_folds
    if k < 2 or k > dataset.n_samples:
        raise ConfigError(
            f"cv_folds must be between 2 and the number of rows of dataset {dataset.name!r} "
            f"({dataset.n_samples}), but got {k}",
            fix="set cv_folds to a value such as 3 or 5",
        )
    splitter: Any
    if dataset.is_classification:
        smallest = int(np.bincount(dataset.y).min())
        if k > smallest:
            raise ConfigError(
                f"cv_folds={k} stratified folds need at least {k} rows per class, but the "
                f"smallest class of dataset {dataset.name!r} has {smallest}",
                fix=f"set cv_folds to at most {smallest}",
            )
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=setup.seed)
    else:
        splitter = KFold(n_splits=k, shuffle=True, random_state=setup.seed)

    X, y = dataset.X, dataset.y
    scores: list[float] = []
    for fold, (train_idx, valid_idx) in enumerate(splitter.split(X, y)):
        output = fit_predict(X[train_idx], y[train_idx], X[valid_idx], y[valid_idx], fold)
        scores.append(score_output(metric, dataset, y[valid_idx], output))
    return float(np.mean(scores))


def merge_params(
    objective: str, params: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """``params`` over ``defaults``; :class:`~hpo.errors.ConfigError` for an unknown name."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ConfigError(
            f"objective {objective!r} does not accept param(s) {', '.join(map(repr, unknown))}",
            fix=f"rename or remove them; accepted params: {', '.join(sorted(defaults))}",
        )
    return {**defaults, **params}
