"""The train-best flow with MLflow on, on a real Prefect server and a real `mlflow server`:
after it saves the champion's model it is registered, and `models:/<pipeline>@staging` loads
it and predicts what the saved file predicts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
import xgboost as xgb

from hpo.flows.train_best import train_best_flow
from hpo.promotions.service import promote_best
from hpo.search_spaces.loader import parse_spec
from hpo.settings import get_settings
from hpo.store import get_storage
from hpo.study_setup import StudyPlan
from hpo.tracking import client
from hpo.tracking.testing import MlflowServer, mlflow_server
from hpo.workers.datasets import load_dataset
from tests.support import run_workers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with mlflow_server(pg_url, Path(tmp_path_factory.mktemp("mlflow"))) as running:
        yield running


def test_train_best_registers_the_champion_under_the_stage_alias(
    prefect_server: None,
    pg_url: str,
    server: MlflowServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HPO_MLFLOW_TRACKING_URI", server.uri)
    monkeypatch.setenv("HPO_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    get_settings.cache_clear()
    client.forget()
    try:
        study, pipeline = f"tb-{uuid.uuid4().hex[:8]}", f"tb-{uuid.uuid4().hex[:8]}"
        spec = parse_spec(
            {
                "name": "tb", "objective": "xgboost", "dataset": "breast_cancer",
                "metric": "roc_auc", "cv_folds": 3, "direction": "maximize",
                "params": {"n_estimators": {"type": "categorical", "choices": [40]},
                           "max_depth": {"type": "categorical", "choices": [3]}},
            }
        )  # fmt: skip
        run_workers(StudyPlan(study_name=study, spec=spec, sampler="random", n_trials=2, seed=0), 1)
        promotion = promote_best(study, pipeline, "staging", storage=get_storage(), reeval_seeds=1)
        assert promotion.decision == "promoted"

        model_file = Path(train_best_flow(pipeline, "staging"))

        mlflow.set_tracking_uri(server.uri)
        loaded = mlflow.pyfunc.load_model(f"models:/{pipeline}@staging")
        X = load_dataset("breast_cancer").X
        local = xgb.Booster(model_file=str(model_file)).predict(xgb.DMatrix(X))
        assert np.allclose(np.asarray(loaded.predict(X)), local)
    finally:
        get_settings.cache_clear()
        client.forget()
