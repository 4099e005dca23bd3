"""Fitting the final model of a promoted configuration on the full dataset, and saving it with
its lineage (``model.*`` + ``lineage.json`` in one directory per promotion)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError
from hpo.workers.datasets import load_dataset
from hpo.workers.objectives.base import EvaluationSetup, TrialContext

FINAL_MODEL_OBJECTIVES = ("xgboost", "lightgbm")


def fit_and_save(
    objective: str,
    dataset: str,
    params: Mapping[str, Any],
    out_dir: Path,
    lineage: Mapping[str, Any],
    *,
    device: str = "cpu",
    threads: int = 1,
    seed: int = 0,
) -> Path:
    """Train ``objective``'s model with ``params`` on all of ``dataset``; returns the model
    file. ``lineage`` (the promotion record) is written beside it with training facts."""
    data = load_dataset(dataset)
    context = TrialContext(
        trial_number=-1,
        device=device,
        setup=EvaluationSetup(dataset=dataset, metric="", seed=seed),
        threads=threads,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if objective == "xgboost":
        import xgboost as xgb

        from hpo.workers.cv import merge_params
        from hpo.workers.objectives import xgboost_objective as xo

        merged = merge_params("xgboost", params, xo.DEFAULTS)
        booster = xgb.train(
            xo._booster_params(merged, data, context, 0),
            xgb.DMatrix(data.X, label=data.y, nthread=threads),
            num_boost_round=int(merged["n_estimators"]),
        )
        model_path = out_dir / "model.json"
        booster.save_model(str(model_path))
    elif objective == "lightgbm":
        import lightgbm as lgb

        from hpo.workers.cv import merge_params
        from hpo.workers.objectives import lightgbm_objective as lo

        merged = merge_params("lightgbm", params, lo.DEFAULTS)
        lgb_booster = lgb.train(
            lo._booster_params(merged, data, context, 0),
            lgb.Dataset(data.X, label=data.y, params={"verbosity": -1}),
            num_boost_round=int(merged["n_estimators"]),
        )
        model_path = out_dir / "model.txt"
        lgb_booster.save_model(str(model_path))
    else:
        raise ConfigError(
            f"train-best can fit {', '.join(FINAL_MODEL_OBJECTIVES)} models, not {objective!r}",
            fix="train the final model of this objective in your own pipeline step; the "
            "promoted params are in the promotion registry and the event payload",
        )
    record = {
        **lineage,
        "model_file": model_path.name,
        "trained_on": {"dataset": dataset, "n_samples": data.n_samples, "full_data": True},
        "training_seconds": round(time.perf_counter() - started, 3),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out_dir / "lineage.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return model_path
