"""Fitting the final model of a promoted configuration on the full dataset, saving it with its
lineage (``model.*`` + ``lineage.json`` in one directory per promotion), and loading it back.

:func:`train_final_model` returns the fitted model in memory with the paths it was saved to
(:class:`FinalModel`), for callers that log it elsewhere too; :func:`load_model` reads a saved
one back for predictions. XGBoost saves ``model.json``, LightGBM ``model.txt``, the torch MLP
``model.pt`` (weights and feature scaling, :mod:`hpo.workers.objectives.torch_mlp`)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hpo.errors import ConfigError
from hpo.workers.cv import merge_params
from hpo.workers.datasets import Dataset, load_dataset
from hpo.workers.objectives.base import EvaluationSetup, TrialContext

FINAL_MODEL_OBJECTIVES = ("xgboost", "lightgbm", "torch_mlp")
MODEL_FILES = {"xgboost": "model.json", "lightgbm": "model.txt", "torch_mlp": "model.pt"}


@dataclass(frozen=True)
class FinalModel:
    """A fitted final model: the library's own object (``xgboost.Booster``,
    ``lightgbm.Booster`` or :class:`~hpo.workers.objectives.torch_mlp.MlpModel`), the file it
    was saved to and its lineage file."""

    objective: str
    model: Any
    path: Path
    lineage_path: Path

    def predict(self, X: NDArray[Any]) -> NDArray[np.float64]:
        return _predict(self.objective, self.model, X)


def fit_model(
    objective: str,
    data: Dataset,
    params: Mapping[str, Any],
    *,
    device: str = "cpu",
    threads: int = 1,
    seed: int = 0,
) -> Any:
    """``objective``'s model fitted with ``params`` on all rows of ``data``, in memory."""
    context = TrialContext(
        trial_number=-1,
        device=device,
        setup=EvaluationSetup(dataset=data.name, metric="", seed=seed),
        threads=threads,
    )
    if objective == "xgboost":
        import xgboost as xgb

        from hpo.workers.objectives import xgboost_objective as xo

        merged = merge_params("xgboost", params, xo.DEFAULTS)
        return xgb.train(
            xo._booster_params(merged, data, context, 0),
            xgb.DMatrix(data.X, label=data.y, nthread=threads),
            num_boost_round=int(merged["n_estimators"]),
        )
    if objective == "lightgbm":
        import lightgbm as lgb

        from hpo.workers.objectives import lightgbm_objective as lo

        merged = merge_params("lightgbm", params, lo.DEFAULTS)
        return lgb.train(
            lo._booster_params(merged, data, context, 0),
            lgb.Dataset(data.X, label=data.y, params={"verbosity": -1}),
            num_boost_round=int(merged["n_estimators"]),
        )
    if objective == "torch_mlp":
        import torch

        from hpo.workers.objectives import torch_mlp as tm

        merged = merge_params("torch_mlp", params, tm.DEFAULTS)
        tm._check(merged)
        torch.set_num_threads(threads)
        return tm.train_mlp(
            merged, data.X, data.y, data.task, data.n_classes, device=device, seed=seed
        )
    raise _unsupported(objective)


def _unsupported(objective: str) -> ConfigError:
    return ConfigError(
        f"train-best can fit {', '.join(FINAL_MODEL_OBJECTIVES)} models, not {objective!r}",
        fix="train the final model of this objective in your own pipeline step; the "
        "promoted params are in the promotion registry and the event payload",
    )


def train_final_model(
    objective: str,
    dataset: str | Dataset,
    params: Mapping[str, Any],
    out_dir: Path,
    lineage: Mapping[str, Any],
    *,
    device: str = "cpu",
    threads: int = 1,
    seed: int = 0,
) -> FinalModel:
    """Fit (:func:`fit_model`) on all of ``dataset`` and save the model in ``out_dir`` with
    ``lineage`` (the promotion record) and training facts in ``lineage.json`` beside it."""
    data = load_dataset(dataset) if isinstance(dataset, str) else dataset
    if objective not in MODEL_FILES:
        raise _unsupported(objective)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    model = fit_model(objective, data, params, device=device, threads=threads, seed=seed)
    model_path = out_dir / MODEL_FILES[objective]
    if objective == "torch_mlp":
        model.save(model_path)
    else:
        model.save_model(str(model_path))
    record = {
        **lineage,
        "model_file": model_path.name,
        "objective": objective,
        "trained_on": {"dataset": data.name, "n_samples": data.n_samples, "full_data": True},
        "device": device,
        "training_seconds": round(time.perf_counter() - started, 3),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    lineage_path = out_dir / "lineage.json"
    lineage_path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return FinalModel(objective, model, model_path, lineage_path)


def load_model(path: Path, device: str = "cpu") -> FinalModel:
    """A saved final model: its directory (``lineage.json`` names the file) or the file."""
    path = Path(path).expanduser()
    lineage_path = path / "lineage.json" if path.is_dir() else path.parent / "lineage.json"
    if path.is_dir():
        if not lineage_path.is_file():
            raise ConfigError(
                f"{path} holds no lineage.json", fix="give a directory train-best wrote"
            )
        path = path / json.loads(lineage_path.read_text())["model_file"]
    by_file = {name: objective for objective, name in MODEL_FILES.items()}
    objective = by_file.get(path.name)
    if objective is None or not path.is_file():
        raise ConfigError(
            f"{path} is not a saved final model (one of {', '.join(sorted(by_file))})",
            fix="give the directory train-best wrote, or the model file in it",
        )
    model: Any
    if objective == "xgboost":
        import xgboost as xgb

        model = xgb.Booster()
        model.load_model(str(path))
    elif objective == "lightgbm":
        import lightgbm as lgb

        model = lgb.Booster(model_file=str(path))
    else:
        from hpo.workers.objectives.torch_mlp import load_mlp

        model = load_mlp(path, device=device)
    return FinalModel(objective, model, path, lineage_path)


def _predict(objective: str, model: Any, X: NDArray[Any]) -> NDArray[np.float64]:
    """Raw output as the objectives score it: class probabilities (the positive class's alone
    for binary boosters) or values (:func:`hpo.workers.cv.score_output`)."""
    if objective == "xgboost":
        import xgboost as xgb

        return np.asarray(model.predict(xgb.DMatrix(np.asarray(X, dtype=np.float32))))
    if objective == "lightgbm":
        return np.asarray(model.predict(np.asarray(X, dtype=np.float32)))
    return np.asarray(model.predict(X))
