"""Promoted models in a real MLflow registry: train-best's model is logged with its flavour,
registered, and the stage's alias points at the champion, so `models:/<name>@staging` loads and
predicts; with MLflow down the promotion is recorded all the same, marked pending, and a later
sync registers it and moves the alias."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.metrics import accuracy_score, roc_auc_score

from hpo.cli.main import main
from hpo.promotions import registry
from hpo.promotions.service import promote_best
from hpo.search_spaces.loader import parse_spec
from hpo.settings import get_settings
from hpo.store import get_storage
from hpo.study_setup import StudyPlan
from hpo.tracking.models import mirror_promotion, pending_promotions
from hpo.workers.datasets import load_dataset
from hpo.workers.final_model import train_final_model
from tests.hpo.tracking.conftest import Relay
from tests.support import run_workers

pytestmark = pytest.mark.slow  # trains models: about a minute with the server's start

XGB_WEAK = {"n_estimators": [5], "max_depth": [1], "learning_rate": [0.02]}
XGB_STRONG = {"n_estimators": [60], "max_depth": [3], "learning_rate": [0.2]}
LGB = {"n_estimators": [40], "num_leaves": [8], "min_child_samples": [5]}


def _promote(objective: str, dataset: str, metric: str, choices: dict[str, list[Any]],
             pipeline: str) -> registry.Promotion:  # fmt: skip
    """Tune a two-trial study on fixed params and send its best trial through the gate."""
    study = f"mlflow-{objective}-{uuid.uuid4().hex[:8]}"
    spec = parse_spec(
        {
            "name": "m", "objective": objective, "dataset": dataset, "metric": metric,
            "cv_folds": 3, "direction": "maximize",
            "params": {k: {"type": "categorical", "choices": v} for k, v in choices.items()},
        }
    )  # fmt: skip
    run_workers(StudyPlan(study_name=study, spec=spec, sampler="random", n_trials=2, seed=0), 1)
    return promote_best(study, pipeline, "staging", storage=get_storage(), reeval_seeds=1)


def _train(promotion: registry.Promotion, out: Path) -> Path:
    """What train-best does: the final model on all the data, with its lineage."""
    assert promotion.dataset is not None
    out = out / f"promotion-{promotion.id}"
    lineage = promotion.model_dump(mode="json")
    return train_final_model(
        promotion.objective, promotion.dataset, promotion.params, out, lineage
    ).path


def _alias_version(uri: str, name: str, alias: str = "staging") -> Any:
    return MlflowClient(uri).get_model_version_by_alias(name, alias)


@pytest.mark.parametrize(
    ("objective", "dataset", "metric", "choices"),
    [("xgboost", "breast_cancer", "roc_auc", XGB_STRONG), ("lightgbm", "wine", "accuracy", LGB)],
    ids=["xgboost", "lightgbm"],
)
def test_promoted_model_loads_through_the_stage_alias(
    pg_url: str, tracking: str, tmp_path: Path, objective: str, dataset: str, metric: str,
    choices: dict[str, list[Any]],
) -> None:  # fmt: skip
    pipeline = f"pipe-{uuid.uuid4().hex[:8]}"
    promotion = _promote(objective, dataset, metric, choices, pipeline)
    assert promotion.decision == "promoted"
    model_file = _train(promotion, tmp_path)

    report = mirror_promotion(get_storage().engine, promotion, model_file, get_settings())
    assert report is not None and report.ok, report
    (result,) = report.results
    assert result.alias_uri == f"models:/{pipeline}@staging"
    version = _alias_version(tracking, pipeline)
    assert version.tags["hpo.promotion_id"] == str(promotion.id)
    run = MlflowClient(tracking).get_run(version.run_id)
    assert run.data.tags["hpo.study"] == promotion.study_name
    assert run.data.params == {k: str(v) for k, v in promotion.params.items()}

    data = load_dataset(dataset)
    mlflow.set_tracking_uri(tracking)
    loaded = mlflow.pyfunc.load_model(f"models:/{pipeline}@staging")
    predicted = np.asarray(loaded.predict(data.X))
    if objective == "xgboost":
        import xgboost as xgb

        local = xgb.Booster(model_file=str(model_file)).predict(xgb.DMatrix(data.X))
        assert np.allclose(predicted, local)
        assert roc_auc_score(data.y, predicted) > 0.98  # trained on all of it
    else:
        import lightgbm as lgb

        local = lgb.Booster(model_file=str(model_file)).predict(data.X)
        assert np.allclose(predicted, local)
        assert accuracy_score(data.y, predicted.argmax(axis=1)) > 0.95
    assert pending_promotions(get_storage().engine, get_settings()) == []


def test_mlflow_down_keeps_the_promotion_pending_until_a_sync_moves_the_alias(
    pg_url: str, tracking: str, relay: Relay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine, settings = get_storage().engine, get_settings()
    pipeline = f"pipe-{uuid.uuid4().hex[:8]}"
    weak = _promote("xgboost", "breast_cancer", "roc_auc", XGB_WEAK, pipeline)
    report = mirror_promotion(engine, weak, _train(weak, tmp_path), settings)
    assert report is not None and report.ok
    assert _alias_version(tracking, pipeline).tags["hpo.promotion_id"] == str(weak.id)

    strong = _promote("xgboost", "breast_cancer", "roc_auc", XGB_STRONG, pipeline)
    assert strong.decision == "promoted", strong.reason
    relay.down()
    report = mirror_promotion(engine, strong, _train(strong, tmp_path), settings)
    assert report is not None and not report.ok
    assert [r.promotion_id for r in report.pending] == [strong.id]
    assert "MLflow at http://127.0.0.1" in (report.pending[0].error or "")
    # PostgreSQL decided: the promotion is there and is the champion, MLflow or not.
    (champion,) = registry.champions(engine, pipeline)
    assert champion.id == strong.id
    assert pending_promotions(engine, settings) == [strong.id]
    assert main(["promotions", "sync-mlflow"]) == 1  # still down: pending, and says why
    out = capsys.readouterr().out
    assert f"promotion {strong.id} ({pipeline}/staging): pending MLflow sync" in out

    relay.up()
    assert _alias_version(tracking, pipeline).tags["hpo.promotion_id"] == str(weak.id)
    assert main(["promotions", "sync-mlflow"]) == 0
    out = capsys.readouterr().out
    assert f"models:/{pipeline}/2, alias models:/{pipeline}@staging" in out
    version = _alias_version(tracking, pipeline)
    assert version.version == "2" and version.tags["hpo.promotion_id"] == str(strong.id)
    assert pending_promotions(engine, settings) == []
    assert main(["promotions", "sync-mlflow"]) == 0  # nothing pending: nothing logged twice
    assert len(MlflowClient(tracking).search_model_versions(f"name = '{pipeline}'")) == 2


def test_a_torch_final_model_is_logged_with_the_pytorch_flavour(
    pg_url: str, tracking: str, tmp_path: Path
) -> None:
    """train-best's torch model (`model.pt`: weights and feature scaling) goes through
    `mlflow.pytorch` as one servable module, and the alias loads a module that predicts what the
    saved model predicts; the promotion row is written through the registry's own insert."""
    import torch

    from hpo.workers.final_model import load_model, train_final_model

    engine, pipeline = get_storage().engine, f"pipe-{uuid.uuid4().hex[:8]}"
    registry.create_tables(engine)
    params = {"n_layers": 1, "hidden_units": 32, "learning_rate": 0.01, "epochs": 5}
    with engine.begin() as conn:
        promotion = registry.insert(
            conn,
            {
                "pipeline": pipeline, "stage": "staging", "decision": "promoted",
                "reason": "test", "study_name": "torch-study", "trial_number": 0,
                "params": params, "value": 0.9, "direction": "maximize", "margin": 0.0,
                "objective": "torch_mlp", "dataset": "digits", "promoted_by": "test",
                "idempotency_key": uuid.uuid4().hex,
            },
        )  # fmt: skip
    final = train_final_model("torch_mlp", "digits", params, tmp_path, {"pipeline": pipeline})

    report = mirror_promotion(engine, promotion, final.path, get_settings())
    assert report is not None and report.ok, report
    assert report.results[0].alias_uri == f"models:/{pipeline}@staging"
    mlflow.set_tracking_uri(tracking)
    loaded = mlflow.pytorch.load_model(f"models:/{pipeline}@staging")
    X = np.array(load_dataset("digits").X[-50:])
    with torch.no_grad():
        served = loaded(torch.from_numpy(X.astype(np.float32))).numpy()
    expected = load_model(final.path).model.predict(X)
    assert served.shape == (50, 10)
    assert np.allclose(served, expected, atol=1e-5)
    assert (served.argmax(1) == load_dataset("digits").y[-50:]).mean() > 0.8


def test_a_front_point_is_mirrored_with_its_rule_and_values_per_objective(
    pg_url: str, tracking: str, tmp_path: Path
) -> None:
    study = f"mlflow-front-{uuid.uuid4().hex[:8]}"
    spec = parse_spec(
        {
            "name": "m", "objective": "xgboost", "dataset": "breast_cancer", "metric": "roc_auc",
            "cv_folds": 3,
            "objectives": [{"metric": "roc_auc", "direction": "maximize"},
                           {"metric": "model_size_kb", "direction": "minimize"}],
            "promotion": {"rule": "constrained_best", "primary": "roc_auc"},
            "params": {k: {"type": "categorical", "choices": v} for k, v in XGB_STRONG.items()},
        }
    )  # fmt: skip
    run_workers(StudyPlan(study_name=study, spec=spec, sampler="random", n_trials=1, seed=0), 1)
    pipeline = f"pipe-{uuid.uuid4().hex[:8]}"
    promotion = promote_best(study, pipeline, "staging", storage=get_storage(), reeval_seeds=1)
    assert promotion.decision == "promoted" and promotion.selection is not None
    report = mirror_promotion(
        get_storage().engine, promotion, _train(promotion, tmp_path), get_settings()
    )
    assert report is not None and report.ok, report
    run = MlflowClient(tracking).get_run(_alias_version(tracking, pipeline).run_id)
    assert run.data.tags["hpo.rule"] == "constrained_best (best roc_auc on the feasible front)"
    chosen = promotion.selection["candidate"]
    assert run.data.metrics == pytest.approx(
        {
            "value": promotion.value,
            "reeval_value": chosen["roc_auc"],
            "reeval.roc_auc": chosen["roc_auc"],
            "reeval.model_size_kb": chosen["model_size_kb"],
        }
    )
