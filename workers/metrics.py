"""Metrics the built-in objectives score with: their natural direction and the tasks they fit.

``Metric.score(y_true, y_pred)`` receives class labels for label metrics (accuracy,
f1_macro), probabilities for probability metrics (``needs_proba``: the positive-class column
for binary tasks, the full ``(n, n_classes)`` matrix for multiclass), and predicted values for
regression metrics. :func:`hpo.workers.cv.score_output` turns a model's raw output into what
each metric expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from hpo.errors import ConfigError, UnknownNameError
from hpo.workers.datasets import Dataset, load_dataset

Direction = Literal["minimize", "maximize"]
ScoreFn = Callable[[NDArray[Any], NDArray[Any]], float]

_CLASSIFICATION = frozenset({"binary", "multiclass"})
_REGRESSION = frozenset({"regression"})


@dataclass(frozen=True)
class Metric:
    """A named metric: its natural direction, the tasks it fits and how to compute it."""

    name: str
    direction: Direction
    tasks: frozenset[str]
    needs_proba: bool
    score: ScoreFn


def _roc_auc(y_true: NDArray[Any], y_score: NDArray[Any]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y_true, y_score))


def _accuracy(y_true: NDArray[Any], y_pred: NDArray[Any]) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _f1_macro(y_true: NDArray[Any], y_pred: NDArray[Any]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def _log_loss(y_true: NDArray[Any], proba: NDArray[Any]) -> float:
    from sklearn.metrics import log_loss

    # Explicit labels: a validation fold may lack a class the model still predicts.
    n_labels = proba.shape[1] if proba.ndim == 2 else 2
    return float(log_loss(y_true, proba, labels=np.arange(n_labels)))


def _rmse(y_true: NDArray[Any], y_pred: NDArray[Any]) -> float:
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))


def _mae(y_true: NDArray[Any], y_pred: NDArray[Any]) -> float:
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.mean(np.abs(diff)))


def _r2(y_true: NDArray[Any], y_pred: NDArray[Any]) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y_true, y_pred))


_METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", "maximize", frozenset({"binary"}), True, _roc_auc),
        Metric("accuracy", "maximize", _CLASSIFICATION, False, _accuracy),
        Metric("f1_macro", "maximize", _CLASSIFICATION, False, _f1_macro),
        Metric("log_loss", "minimize", _CLASSIFICATION, True, _log_loss),
        Metric("rmse", "minimize", _REGRESSION, False, _rmse),
        Metric("mae", "minimize", _REGRESSION, False, _mae),
        Metric("r2", "maximize", _REGRESSION, False, _r2),
    )
}


def metric_names() -> list[str]:
    """The registered metric names, sorted."""
    return sorted(_METRICS)


def metrics_for_task(task: str) -> list[str]:
    """The names of the metrics that fit a task, sorted."""
    return sorted(name for name, m in _METRICS.items() if task in m.tasks)


def get_metric(name: str) -> Metric:
    """The metric registered under ``name``; :class:`~hpo.errors.UnknownNameError` otherwise."""
    try:
        return _METRICS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown metric {name!r}", fix=f"use one of: {', '.join(metric_names())}"
        ) from None


def check_metric_fits(metric: Metric | str, dataset: Dataset | str) -> None:
    """Raise :class:`~hpo.errors.ConfigError` unless ``metric`` fits the task of ``dataset``.

    Both may be given as objects or registered names.
    """
    m = get_metric(metric) if isinstance(metric, str) else metric
    d = load_dataset(dataset) if isinstance(dataset, str) else dataset
    if d.task in m.tasks:
        return
    raise ConfigError(
        f"metric {m.name!r} fits {'/'.join(sorted(m.tasks))} tasks only, but dataset "
        f"{d.name!r} is a {d.task} task",
        fix=f"for dataset {d.name!r} use one of: {', '.join(metrics_for_task(d.task))}",
    )
