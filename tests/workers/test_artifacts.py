"""Trial artifacts on a real PostgreSQL and a real artifact store (a directory; S3 through a
local S3 server): what objectives save lands beside their trial as Optuna artifacts, the best k
models of a study are kept and the others deleted, an artifact over the size limit fails its
trial with the reason (a model over it is skipped), an unknown store URL is one clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.artifacts import download_artifact, get_all_artifact_meta

from hpo.errors import ConfigError
from hpo.search_spaces.loader import parse_spec
from hpo.settings import ArtifactSettings, HpoSettings, get_settings
from hpo.store import get_storage
from hpo.study_setup import StudyPlan
from hpo.workers.artifacts import MODEL_ATTR, SKIPPED_ATTR, _open, open_artifact_store
from tests.support import run_workers

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path / "store"
    monkeypatch.setenv("HPO_ARTIFACTS_STORE", str(store))
    get_settings.cache_clear()
    yield store
    get_settings.cache_clear()


def _plan(study_name: str, n_trials: int, **spec: object) -> StudyPlan:
    parsed = parse_spec({"name": "a", **spec})
    return StudyPlan(
        study_name=study_name, spec=parsed, sampler="random", n_trials=n_trials, seed=0
    )


def _trials(study_name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study_name, storage=_fresh()).trials


def _fresh() -> optuna.storages.RDBStorage:
    """A stock storage of its own: no trial cache that saw a model before it was deleted."""
    return optuna.storages.RDBStorage(str(get_storage().url))


def test_saved_artifacts_show_beside_their_trial(
    pg_url: str, study_name: str, store_dir: Path, tmp_path: Path
) -> None:
    plan = _plan(
        study_name, 2, objective="tests.objectives_fixture:saves_artifacts",
        params={"x": {"type": "float", "low": 0, "high": 1}},
    )  # fmt: skip
    run_workers(plan, workers=1)
    storage, store = get_storage(), open_artifact_store(get_settings())
    for trial in _trials(study_name):
        assert trial.state.name == "COMPLETE"
        metas = {m.filename: m for m in get_all_artifact_meta(trial, storage=storage)}
        assert set(metas) == {"blob.bin", "notes.txt"}
        out = tmp_path / f"notes-{trial.number}.txt"
        download_artifact(artifact_store=store, artifact_id=metas["notes.txt"].artifact_id,
                          file_path=str(out))  # fmt: skip
        assert out.read_text() == f"trial {trial.number}\n"
        assert (store_dir / metas["blob.bin"].artifact_id).read_bytes() == b"x" * 10


def test_an_artifact_over_the_limit_fails_its_trial_with_the_reason(
    pg_url: str, study_name: str, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPO_ARTIFACTS_MAX_MB", "0.001")  # 1,000 bytes
    get_settings.cache_clear()
    plan = _plan(
        study_name, 1, objective="tests.objectives_fixture:saves_artifacts",
        params={"size": {"type": "categorical", "choices": [5000]}},
        budget={"max_failed_trials": 1},
    )  # fmt: skip
    run_workers(plan, workers=1)
    (trial,) = _trials(study_name)
    assert trial.state.name == "FAIL"  # recorded, with why: not lost
    assert trial.system_attrs["fail_reason"] == (
        "ArtifactTooLargeError: artifact 'blob.bin' of trial 0 is 5,000 bytes, over the limit of "
        "0.001 MB (HPO_ARTIFACTS_MAX_MB)\n  fix: save a smaller file, or raise "
        "HPO_ARTIFACTS_MAX_MB"
    )
    assert not store_dir.exists() or not list(store_dir.iterdir())


XGB = {
    "objective": "xgboost",
    "dataset": "breast_cancer",
    "metric": "roc_auc",
    "cv_folds": 2,
    "params": {
        "n_estimators": {"type": "int", "low": 2, "high": 20},
        "max_depth": {"type": "int", "low": 1, "high": 4},
    },
}


def test_only_the_best_k_models_are_kept(pg_url: str, study_name: str, store_dir: Path) -> None:
    import xgboost as xgb

    plan = _plan(study_name, 6, **XGB, artifacts={"models": {"best_k": 2}})
    run_workers(plan, workers=2)
    trials = sorted(_trials(study_name), key=lambda t: (-(t.value or 0.0), t.number))
    assert all(t.state.name == "COMPLETE" for t in trials)
    kept = [t for t in trials if MODEL_ATTR in t.system_attrs]
    assert [t.number for t in kept] == [t.number for t in trials[:2]]  # the best two
    for trial in trials[2:]:  # the others: gone from the store and from the trial
        assert not get_all_artifact_meta(trial, storage=_fresh())
    assert sorted(p.name for p in store_dir.iterdir()) == sorted(
        t.system_attrs[MODEL_ATTR] for t in kept
    )
    for trial in kept:
        (meta,) = get_all_artifact_meta(trial, storage=_fresh())
        assert meta.filename == f"trial-{trial.number}-model.json"
        booster = xgb.Booster()
        booster.load_model(bytearray((store_dir / meta.artifact_id).read_bytes()))
        assert booster.num_boosted_rounds() == trial.params["n_estimators"]


def test_a_model_over_the_limit_is_skipped_and_the_trial_completes(
    pg_url: str, study_name: str, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPO_ARTIFACTS_MAX_MB", "0.0001")  # 100 bytes: no model fits
    get_settings.cache_clear()
    plan = _plan(study_name, 1, **XGB, artifacts={"models": {"best_k": 1}})
    run_workers(plan, workers=1)
    (trial,) = _trials(study_name)
    assert trial.state.name == "COMPLETE" and MODEL_ATTR not in trial.system_attrs
    (skipped,) = trial.user_attrs[SKIPPED_ATTR]
    assert skipped.startswith("artifact 'model.json' of trial 0 is ")
    assert skipped.endswith("over the limit of 0.0001 MB (HPO_ARTIFACTS_MAX_MB)")


def test_an_unknown_store_url_is_one_clear_error(tmp_path: Path) -> None:
    spec = REPO / "search_spaces" / "specs" / "xgboost_breast_cancer.yaml"
    env = {"HPO_ARTIFACTS_STORE": "gs://bucket/runs", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "hpo", "tune", str(spec), "--check"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(
        "error: invalid setting HPO_ARTIFACTS_STORE='gs://bucket/runs': the artifact store must "
        "be a directory, a file:// URL or s3://bucket/prefix, but the scheme is 'gs'\n"
        "  fix: set HPO_ARTIFACTS_STORE to a valid value"
    )
    with pytest.raises(ConfigError, match="unknown artifact store scheme 'ftp'"):
        _open("ftp://host/x", None)


def test_an_s3_store_keeps_its_prefix(tmp_path: Path) -> None:
    """s3://bucket/prefix through boto3, against a local S3 server (moto's)."""
    pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    import io

    import boto3

    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = {"aws_access_key_id": "k", "aws_secret_access_key": "s", "region_name": "us-east-1"}
        s3 = boto3.client("s3", endpoint_url=endpoint, **creds)
        s3.create_bucket(Bucket="models")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AWS_ACCESS_KEY_ID", "k")  # boto3's own credentials chain
            mp.setenv("AWS_SECRET_ACCESS_KEY", "s")
            mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
            settings = HpoSettings(
                artifacts=ArtifactSettings(store="s3://models/team/a", s3_endpoint_url=endpoint)
            )
            store = open_artifact_store(settings)
            store.write("abc", io.BytesIO(b"payload"))
            assert store.open_reader("abc").read() == b"payload"
        listed = s3.list_objects_v2(Bucket="models")["Contents"]
        assert [o["Key"] for o in listed] == ["team/a/abc"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("objective", "dataset", "metric", "params"),
    [
        ("lightgbm", "wine", "accuracy", {"n_estimators": {"type": "int", "low": 5, "high": 20}}),
        ("torch_mlp", "iris", "accuracy", {"epochs": {"type": "int", "low": 2, "high": 4}}),
    ],
)
def test_lightgbm_and_torch_models_are_stored_and_load(
    pg_url: str, study_name: str, store_dir: Path, objective: str, dataset: str, metric: str,
    params: dict[str, object],
) -> None:  # fmt: skip
    from hpo.workers.datasets import load_dataset

    spec = {"objective": objective, "dataset": dataset, "metric": metric, "cv_folds": 2,
            "params": params, "artifacts": {"models": {"best_k": 1}}}  # fmt: skip
    run_workers(_plan(study_name, 3, **spec), workers=1)
    best = max(_trials(study_name), key=lambda t: (t.value or 0.0, -t.number))
    (meta,) = [m for t in _trials(study_name) for m in get_all_artifact_meta(t, storage=_fresh())]
    assert meta.artifact_id == best.system_attrs[MODEL_ATTR]  # only the best trial's is left
    data = (store_dir / meta.artifact_id).read_bytes()
    X = load_dataset(dataset).X
    if objective == "lightgbm":
        import lightgbm as lgb

        assert meta.filename == f"trial-{best.number}-model.txt"
        proba = lgb.Booster(model_str=data.decode()).predict(X)
    else:
        from hpo.workers.objectives.torch_mlp import load_mlp

        assert meta.filename == f"trial-{best.number}-model.pt"
        proba = load_mlp(data).predict(X)
    assert proba.shape == (len(X), 3)  # both datasets have three classes
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
