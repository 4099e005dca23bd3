"""Final models, fitted for real on a bundled dataset with held-out rows kept aside: saved with
their lineage, loaded back, and scoring on the held-out rows what the fitted model scored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hpo.errors import ConfigError
from hpo.workers.cv import score_output
from hpo.workers.datasets import Dataset, load_dataset
from hpo.workers.final_model import load_model, train_final_model
from hpo.workers.metrics import get_metric

LINEAGE = {"id": 7, "study_name": "s", "trial_number": 3}


def _split(name: str) -> tuple[Dataset, Dataset]:
    from sklearn.model_selection import train_test_split

    full = load_dataset(name)
    X_a, X_b, y_a, y_b = train_test_split(
        full.X, full.y, test_size=0.25, random_state=0, stratify=full.y
    )
    part = {"task": full.task, "n_classes": full.n_classes}
    return Dataset(name, X_a, y_a, **part), Dataset(name, X_b, y_b, **part)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("objective", "params", "dataset", "metric", "floor"),
    [
        ("torch_mlp", {"hidden_units": 64, "epochs": 15, "learning_rate": 3e-3}, "digits",
         "accuracy", 0.94),
        ("xgboost", {"n_estimators": 30, "max_depth": 3}, "breast_cancer", "roc_auc", 0.97),
        ("lightgbm", {"n_estimators": 30, "num_leaves": 8}, "wine", "accuracy", 0.9),
    ],
)  # fmt: skip
def test_a_saved_final_model_predicts_held_out_rows(
    tmp_path: Path, objective: str, params: dict[str, float], dataset: str, metric: str,
    floor: float,
) -> None:  # fmt: skip
    train, held_out = _split(dataset)
    fitted = train_final_model(
        objective, train, params, tmp_path / "promotion-7", LINEAGE, device="cpu", seed=0
    )
    score = get_metric(metric)
    expected = score_output(score, held_out, held_out.y, fitted.predict(held_out.X))
    assert expected >= floor  # a real model, not a constant

    loaded = load_model(tmp_path / "promotion-7")  # a fresh object from the files alone
    assert loaded.objective == objective and loaded.path == fitted.path
    output = loaded.predict(held_out.X)
    np.testing.assert_allclose(output, fitted.predict(held_out.X), rtol=1e-6)
    assert score_output(score, held_out, held_out.y, output) == pytest.approx(expected)

    lineage = json.loads(fitted.lineage_path.read_text())
    assert lineage["model_file"] == fitted.path.name and lineage["id"] == 7
    assert lineage["objective"] == objective and lineage["device"] == "cpu"
    assert lineage["trained_on"] == {
        "dataset": dataset, "n_samples": train.n_samples, "full_data": True
    }  # fmt: skip


def test_torch_final_model_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    train, held_out = _split("wine")
    params = {"epochs": 5}
    a = train_final_model("torch_mlp", train, params, tmp_path / "a", LINEAGE, seed=3)
    b = train_final_model("torch_mlp", train, params, tmp_path / "b", LINEAGE, seed=3)
    assert np.array_equal(a.predict(held_out.X), b.predict(held_out.X))


def test_objectives_without_a_final_model_and_wrong_files_are_clear_errors(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="train-best can fit xgboost, lightgbm, torch_mlp"):
        train_final_model("branin", "wine", {}, tmp_path, LINEAGE)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ConfigError, match="is not a saved final model"):
        load_model(tmp_path / "notes.txt")
    with pytest.raises(ConfigError, match="holds no lineage.json"):
        load_model(tmp_path)
