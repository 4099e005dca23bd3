"""Built-in objective ``xgboost``: gradient-boosted trees scored by k-fold cross-validation.

On the first fold the validation score is reported every :data:`REPORT_EVERY` boosting rounds
(and after the last one) through ``context.report``, so a pruner can stop the trial early.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xgboost as xgb
from numpy.typing import NDArray

from hpo.workers.cv import cross_validate, merge_params, pruning_score, resolve_setup
from hpo.workers.datasets import Dataset
from hpo.workers.objectives.base import Params, TrialContext
from hpo.workers.objectives.costs import CostMeter

REPORT_EVERY = 10

DEFAULTS: dict[str, Any] = {
    "n_estimators": 100,
    "max_depth": 6,
    "learning_rate": 0.1,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "min_child_weight": 1.0,
    "reg_lambda": 1.0,
    "reg_alpha": 0.0,
    "gamma": 0.0,
}


class _ReportCallback(xgb.callback.TrainingCallback):
    """Scores the validation fold every few rounds and reports it (may raise TrialPruned)."""

    def __init__(
        self,
        context: TrialContext,
        score: Callable[[NDArray[Any], NDArray[Any]], float],
        dvalid: xgb.DMatrix,
        y_valid: NDArray[Any],
        n_rounds: int,
    ) -> None:
        super().__init__()
        self._context = context
        self._score = score
        self._dvalid = dvalid
        self._y_valid = y_valid
        self._n_rounds = n_rounds

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        step = epoch + 1
        if step % REPORT_EVERY == 0 or step == self._n_rounds:
            output = model.predict(self._dvalid, iteration_range=(0, step))
            self._context.report(step, self._score(self._y_valid, output))
        return False


def _booster_params(
    merged: dict[str, Any], dataset: Dataset, context: TrialContext, fold: int
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "max_depth": int(merged["max_depth"]),
        "eta": float(merged["learning_rate"]),
        "subsample": float(merged["subsample"]),
        "colsample_bytree": float(merged["colsample_bytree"]),
        "min_child_weight": float(merged["min_child_weight"]),
        "lambda": float(merged["reg_lambda"]),
        "alpha": float(merged["reg_alpha"]),
        "gamma": float(merged["gamma"]),
        "tree_method": "hist",
        "device": "cuda" if context.device == "cuda" else "cpu",
        "nthread": context.threads,
        "seed": context.setup.seed + fold,
        "verbosity": 0,
    }
    if dataset.task == "binary":
        params["objective"] = "binary:logistic"
    elif dataset.task == "multiclass":
        params["objective"] = "multi:softprob"
        params["num_class"] = dataset.n_classes
    else:
        params["objective"] = "reg:squarederror"
    return params


def xgboost_objective(params: Params, context: TrialContext) -> float:
    """Mean cross-validated ``context.setup.metric`` of XGBoost with ``params`` over
    :data:`DEFAULTS`."""
    merged = merge_params("xgboost", params, DEFAULTS)
    dataset, metric = resolve_setup(context.setup)
    score = pruning_score(context.setup, dataset, metric)
    n_rounds = int(merged["n_estimators"])
    meter = CostMeter()  # latency_ms, model_size_kb, fit_time_s: see costs.py

    def fit_predict(
        X_train: NDArray[np.float32],
        y_train: NDArray[Any],
        X_valid: NDArray[np.float32],
        y_valid: NDArray[Any],
        fold: int,
    ) -> NDArray[Any]:
        dtrain = xgb.DMatrix(X_train, label=y_train, nthread=context.threads)
        dvalid = xgb.DMatrix(X_valid, nthread=context.threads)
        callbacks: list[xgb.callback.TrainingCallback] = []
        if fold == 0:
            callbacks.append(_ReportCallback(context, score, dvalid, y_valid, n_rounds))
        with meter.fit():
            booster = xgb.train(
                _booster_params(merged, dataset, context, fold),
                dtrain,
                num_boost_round=n_rounds,
                verbose_eval=False,
                callbacks=callbacks,
            )
        if fold == 0 and context.keeps_models:  # the first fold's model: the trial's
            context.save_model(bytes(booster.save_raw("json")), "model.json")
        with meter.predict(len(X_valid)):
            output = np.asarray(booster.predict(dvalid))
        meter.model_bytes(len(booster.save_raw(raw_format="ubj")))
        return output

    score_value = cross_validate(context.setup, fit_predict)
    meter.publish(context)
    return score_value
