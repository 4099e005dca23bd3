"""Studies and trials in a real MLflow server: a tune with MLflow on gives one run per study and
one nested run per finished trial with its params, value, intermediate values, worker, device
and duration; exactly once with parallel workers; and MLflow down loses nothing (the trials are
pending, then `hpo studies sync-mlflow` logs them)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient

from hpo.cli.main import main
from hpo.search_spaces.loader import parse_spec
from hpo.settings import get_settings
from hpo.store import get_storage
from hpo.study_setup import StudyPlan
from hpo.tracking import marks
from hpo.tracking.client import server_key
from tests.hpo.tracking.conftest import Relay
from tests.support import run_workers

SPACE = {
    "x": {"type": "float", "low": -3.0, "high": 5.0},
    "y": {"type": "int", "low": -3, "high": 3},
}


def _plan(study_name: str, objective: str, n_trials: int) -> StudyPlan:
    spec = parse_spec({"name": "t", "objective": objective, "params": SPACE})
    return StudyPlan(study_name=study_name, spec=spec, sampler="random", n_trials=n_trials, seed=3)


def _runs(uri: str, study_name: str) -> tuple[Any, list[Any]]:
    """The study's MLflow run and its nested runs."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(get_settings().mlflow.experiment)
    assert experiment is not None
    found = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`hpo.study` = '{study_name}'"
    )
    (parent,) = found
    nested = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        max_results=1000,
    )
    return parent, nested


def _trials(study_name: str) -> dict[int, optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=study_name, storage=get_storage())
    return {t.number: t for t in study.trials}


def test_one_run_per_study_and_one_nested_run_per_trial(
    pg_url: str, tracking: str, study_name: str
) -> None:
    run_workers(_plan(study_name, "tests.objectives_fixture:quadratic_with_context", 4), 1)
    parent, nested = _runs(tracking, study_name)
    trials = _trials(study_name)
    assert parent.info.run_name == study_name
    assert parent.info.status == "FINISHED"  # the study holds its 4 trials, all in MLflow
    assert parent.data.tags["hpo.direction"] == "minimize"
    best = min(t.value for t in trials.values() if t.value is not None)
    assert parent.data.metrics["best_value"] == pytest.approx(best)
    assert sorted(int(r.data.tags["hpo.trial_number"]) for r in nested) == sorted(trials)
    history = MlflowClient(tracking).get_metric_history
    for run in nested:
        trial = trials[int(run.data.tags["hpo.trial_number"])]
        assert run.info.run_name == f"trial-{trial.number}"
        assert run.info.status == "FINISHED"
        assert run.data.params == {k: str(v) for k, v in trial.params.items()}
        assert run.data.metrics["value"] == pytest.approx(trial.value)
        assert trial.duration is not None
        assert run.data.metrics["duration_s"] == pytest.approx(trial.duration.total_seconds())
        steps = {m.step: m.value for m in history(run.info.run_id, "intermediate_value")}
        assert steps == pytest.approx(trial.intermediate_values)
        assert steps and len(steps) == 3
        assert run.data.tags["worker"] == "w0" and run.data.tags["device"] == "cpu"
        assert run.data.tags["hpo.state"] == "COMPLETE"


def test_failed_trials_are_failed_runs(pg_url: str, tracking: str, study_name: str) -> None:
    run_workers(_plan(study_name, "tests.objectives_fixture:flaky", 6), 1)
    _parent, nested = _runs(tracking, study_name)
    trials = _trials(study_name)
    assert len(nested) == len(trials) > 6  # 6 COMPLETE (the budget) and the FAIL ones
    for run in nested:
        trial = trials[int(run.data.tags["hpo.trial_number"])]
        assert run.data.tags["hpo.state"] == trial.state.name
        if trial.state == optuna.trial.TrialState.FAIL:
            assert run.info.status == "FAILED"
            assert run.data.tags["hpo.fail_reason"] == trial.system_attrs["fail_reason"]
            assert "value" not in run.data.metrics


def test_parallel_workers_log_every_trial_exactly_once(
    pg_url: str, tracking: str, study_name: str
) -> None:
    run_workers(_plan(study_name, "tests.objectives_fixture:sleepy", 12), 3)
    _parent, nested = _runs(tracking, study_name)
    trials = _trials(study_name)
    numbers = Counter(int(r.data.tags["hpo.trial_number"]) for r in nested)
    assert numbers == Counter(list(trials))  # each trial once, none twice
    by_worker = Counter(r.data.tags["worker"] for r in nested)
    assert len(by_worker) >= 2  # the workers really shared the study
    for run in nested:
        assert (
            run.data.tags["worker"]
            == trials[int(run.data.tags["hpo.trial_number"])].user_attrs["worker"]
        )


def test_mlflow_down_loses_no_trial_and_sync_backfills(
    pg_url: str,
    tracking: str,
    relay: Relay,
    study_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    relay.down()
    reports = run_workers(_plan(study_name, "tests.objectives_fixture:quadratic", 5), 2)
    assert sum(r.counts.complete for r in reports) == 5  # the study does not notice
    storage = get_storage()
    study_id = storage.get_study_id_from_name(study_name)
    pending = marks.unsynced_trials(storage.engine, server_key(tracking), study_id)
    assert [n for _, n in pending] == list(range(5))
    assert main(["studies", "sync-mlflow", study_name]) == 2  # still down: a clear error
    assert "MLflow at http://127.0.0.1" in capsys.readouterr().err

    relay.up()
    assert main(["studies", "sync-mlflow", study_name]) == 0
    out = capsys.readouterr().out
    assert f"{study_name}: 5 trial(s) logged to MLflow now, 5 in MLflow, 0 pending" in out
    _parent, nested = _runs(tracking, study_name)
    assert sorted(int(r.data.tags["hpo.trial_number"]) for r in nested) == list(range(5))
    assert main(["studies", "sync-mlflow", study_name]) == 0  # idempotent: nothing new
    assert "0 trial(s) logged to MLflow now, 5 in MLflow" in capsys.readouterr().out
    assert len(_runs(tracking, study_name)[1]) == 5


def test_a_password_in_the_tracking_uri_is_never_shown(
    pg_url: str,
    tracking: str,
    relay: Relay,
    study_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("HPO_MLFLOW_TRACKING_URI", f"http://alice:Pa55-w0rd@127.0.0.1:{relay.port}")
    get_settings.cache_clear()
    relay.down()
    run_workers(_plan(study_name, "tests.objectives_fixture:quadratic", 2), 1)
    assert main(["studies", "sync-mlflow", study_name]) == 2
    out, err = capsys.readouterr()
    assert "alice:***@127.0.0.1" in err
    assert "Pa55-w0rd" not in out + err + caplog.text
    assert "pending" in caplog.text
