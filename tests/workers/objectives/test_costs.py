"""What a model costs, reported by every built-in trainer beside its score: latency per 1,000
rows, serialized size, fit time (``context.metrics``)."""

from __future__ import annotations

import time

import pytest

from hpo.workers.objectives.costs import SECONDARY_METRICS, CostMeter
from hpo.workers.objectives.xgboost_objective import xgboost_objective
from tests.workers.objectives.test_builtin_objectives import CASES, Recorder, _context


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_built_in_reports_its_costs(name: str) -> None:
    objective, dataset, metric, params, (low, high) = CASES[name]
    context = _context(dataset, metric, Recorder())
    score = objective(params, context)
    assert low <= score <= high  # still returns its score, a float
    assert set(context.metrics) == set(SECONDARY_METRICS)
    assert all(value > 0 for value in context.metrics.values())
    assert context.metrics["latency_ms"] < 10_000 and context.metrics["fit_time_s"] < 60


def test_a_bigger_model_weighs_more() -> None:
    small, big = (
        _context("breast_cancer", "roc_auc", Recorder()),
        _context("breast_cancer", "roc_auc", Recorder()),
    )
    xgboost_objective({"n_estimators": 5, "max_depth": 2}, small)
    xgboost_objective({"n_estimators": 60, "max_depth": 4}, big)
    assert big.metrics["model_size_kb"] > 3 * small.metrics["model_size_kb"]


def test_fit_time_leaves_out_a_prediction_timed_inside_it() -> None:
    meter = CostMeter()
    with meter.fit():
        time.sleep(0.05)
        with meter.predict(500):
            time.sleep(0.1)
    meter.model_bytes(2048)
    metrics = meter.metrics()
    assert 0.04 <= metrics["fit_time_s"] < 0.09
    assert metrics["latency_ms"] == pytest.approx(200.0, rel=0.3)  # 100 ms for 500 rows
    assert metrics["model_size_kb"] == 2.0
