"""Built-in objective ``lightgbm``: LightGBM trees scored by k-fold cross-validation.

On the first fold the validation score is reported every :data:`REPORT_EVERY` boosting rounds
(and after the last one) through ``context.report``, so a pruner can stop the trial early.
Training is made deterministic (``deterministic=True``, ``force_row_wise=True``) so that a
fixed seed gives the same score on every run.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from hpo.workers.cv import cross_validate, merge_params, pruning_score, resolve_setup
from hpo.workers.datasets import Dataset
from hpo.workers.objectives.base import Params, TrialContext
from hpo.workers.objectives.costs import CostMeter

REPORT_EVERY = 10

DEFAULTS: dict[str, Any] = {
    "n_estimators": 100,
    "num_leaves": 31,
    "learning_rate": 0.1,
    "max_depth": -1,
    "min_child_samples": 20,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "reg_lambda": 0.0,
    "reg_alpha": 0.0,
}


def _booster_params(
    merged: dict[str, Any], dataset: Dataset, context: TrialContext, fold: int
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "num_leaves": int(merged["num_leaves"]),
        "learning_rate": float(merged["learning_rate"]),
        "max_depth": int(merged["max_depth"]),
        "min_data_in_leaf": int(merged["min_child_samples"]),
        "bagging_fraction": float(merged["subsample"]),
        "bagging_freq": 1,
        "feature_fraction": float(merged["colsample_bytree"]),
        "lambda_l2": float(merged["reg_lambda"]),
        "lambda_l1": float(merged["reg_alpha"]),
        "device_type": "gpu" if context.device == "cuda" else "cpu",
        "num_threads": context.threads,
        "seed": context.setup.seed + fold,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    if dataset.task == "binary":
        params["objective"] = "binary"
    elif dataset.task == "multiclass":
        params["objective"] = "multiclass"
        params["num_class"] = dataset.n_classes
    else:
        params["objective"] = "regression"
    return params


def lightgbm_objective(params: Params, context: TrialContext) -> float:
    """Mean cross-validated ``context.setup.metric`` of LightGBM with ``params`` over
    :data:`DEFAULTS` (``subsample`` is applied at every round: ``bagging_freq=1``)."""
    merged = merge_params("lightgbm", params, DEFAULTS)
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
        def report(env: lgb.callback.CallbackEnv) -> None:
            step = env.iteration + 1
            if step % REPORT_EVERY == 0 or step == n_rounds:
                model = env.model
                assert isinstance(model, lgb.Booster)  # lgb.cv would pass a CVBooster
                output = np.asarray(model.predict(X_valid, num_iteration=step))
                context.report(step, score(y_valid, output))

        booster_params = _booster_params(merged, dataset, context, fold)
        train_set = lgb.Dataset(X_train, label=y_train, params={"verbosity": -1})
        with meter.fit():
            booster = lgb.train(
                booster_params,
                train_set,
                num_boost_round=n_rounds,
                callbacks=[report] if fold == 0 else None,
            )
        if fold == 0 and context.keeps_models:  # the first fold's model: the trial's
            context.save_model(booster.model_to_string().encode(), "model.txt")
        with meter.predict(len(X_valid)):
            output = np.asarray(booster.predict(X_valid))
        meter.model_bytes(len(booster.model_to_string().encode()))
        return output

    score_value = cross_validate(context.setup, fit_predict)
    meter.publish(context)
    return score_value
