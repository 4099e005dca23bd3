"""The trial loop without Prefect, on a real PostgreSQL: exact budgets under parallel workers,
grid points run once, failures recorded, resume."""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna
import pytest

from hpo.search_spaces.loader import parse_spec
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.trial_runner import WorkerIdentity, run_worker
from tests.support import run_workers

SPACE = {
    "x": {"type": "float", "low": -3.0, "high": 5.0},
    "y": {"type": "int", "low": -3, "high": 3},
}


def _plan(
    study_name: str, objective: str, n_trials: int, sampler: str = "random", **extra: Any
) -> StudyPlan:
    spec = parse_spec({"name": "t", "objective": objective, "params": SPACE, **extra})
    return StudyPlan(study_name=study_name, spec=spec, sampler=sampler, n_trials=n_trials, seed=1)


def _states(study_name: str) -> Counter[str]:
    study = optuna.load_study(study_name=study_name, storage=get_storage())
    return Counter(t.state.name for t in study.trials)


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_exact_budget_with_parallel_workers(pg_url: str, study_name: str, sampler: str) -> None:
    plan = _plan(study_name, "tests.objectives_fixture:sleepy", n_trials=24, sampler=sampler)
    reports = run_workers(plan, workers=4)
    assert _states(study_name) == Counter({"COMPLETE": 24})
    assert sum(r.counts.complete for r in reports) == 24
    assert {r.stopped_because for r in reports} == {"budget reached"}
    assert len([r for r in reports if r.counts.complete > 0]) >= 2  # the work really was shared


def test_trials_record_where_they_ran(pg_url: str, study_name: str) -> None:
    plan = _plan(study_name, "tests.objectives_fixture:quadratic", n_trials=3)
    run_workers(plan, workers=1)
    study = optuna.load_study(study_name=study_name, storage=get_storage())
    for trial in study.trials:
        assert trial.user_attrs["worker"] == "w0"
        assert trial.user_attrs["device"] == "cpu"
        assert trial.user_attrs["pool"] == "in-process"
        assert trial.user_attrs["host"]


def test_grid_runs_each_point_exactly_once(pg_url: str, study_name: str) -> None:
    space = {
        "x": {"type": "float", "low": 0.0, "high": 5.0, "step": 1.0},
        "y": {"type": "int", "low": -1, "high": 0},
    }
    spec = parse_spec(
        {"name": "g", "objective": "tests.objectives_fixture:sleepy", "params": space}
    )
    plan = StudyPlan(study_name=study_name, spec=spec, sampler="grid", n_trials=100, seed=0)
    run_workers(plan, workers=4)
    # A second coordinator on the same study must not enqueue the points again.
    open_study(plan, get_storage())
    run_workers(plan, workers=2)
    study = optuna.load_study(study_name=study_name, storage=get_storage())
    points = Counter((t.params["x"], t.params["y"]) for t in study.trials)
    assert len(points) == 12
    assert set(points.values()) == {1}
    assert all(t.state.name == "COMPLETE" for t in study.trials)


def test_grid_capped_by_budget(pg_url: str, study_name: str) -> None:
    space = {"x": {"type": "int", "low": 0, "high": 9}}
    spec = parse_spec(
        {"name": "g", "objective": "tests.objectives_fixture:quadratic", "params": space}
    )
    plan = StudyPlan(study_name=study_name, spec=spec, sampler="grid", n_trials=4, seed=0)
    run_workers(plan, workers=3)
    assert _states(study_name) == Counter({"COMPLETE": 4})


def test_failing_and_nan_trials_fail_alone(pg_url: str, study_name: str) -> None:
    plan = _plan(
        study_name, "tests.objectives_fixture:flaky", n_trials=10, budget={"max_failed_trials": 200}
    )
    run_workers(plan, workers=2)
    study = optuna.load_study(study_name=study_name, storage=get_storage())
    states = Counter(t.state.name for t in study.trials)
    assert states["COMPLETE"] == 10
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert failed, "the flaky objective should have failed some trials"
    for t in failed:
        reason = t.system_attrs["fail_reason"]
        if t.params["x"] < 0:
            assert reason.startswith("RuntimeError: cannot evaluate x=")
        else:
            assert "not a finite number" in reason


def test_too_many_failures_stop_the_workers(pg_url: str, study_name: str) -> None:
    plan = _plan(
        study_name,
        "tests.objectives_fixture:always_fails",
        n_trials=50,
        budget={"max_failed_trials": 5},
    )
    reports = run_workers(plan, workers=2)
    states = _states(study_name)
    assert states["COMPLETE"] == 0
    assert 5 <= states["FAIL"] <= 6  # a worker may finish the trial it held when the cap was hit
    assert all("trials failed" in r.stopped_because for r in reports)


def test_resume_reaches_the_new_total(pg_url: str, study_name: str) -> None:
    run_workers(_plan(study_name, "tests.objectives_fixture:quadratic", n_trials=5), workers=2)
    run_workers(_plan(study_name, "tests.objectives_fixture:quadratic", n_trials=8), workers=2)
    assert _states(study_name) == Counter({"COMPLETE": 8})


def test_stale_trial_is_failed_and_retried(pg_url: str, study_name: str) -> None:
    """A worker that died mid-trial (no heartbeat) leaves a RUNNING trial; after the grace period
    the next claim fails it and its params run again."""
    from pydantic import SecretStr

    from hpo.settings import DatabaseSettings, HpoSettings, WorkerSettings

    settings = HpoSettings(
        database=DatabaseSettings(url=SecretStr(pg_url)),
        worker=WorkerSettings(heartbeat_interval_s=1, grace_period_s=2),
    )
    storage = get_storage(settings)
    plan = _plan(study_name, "tests.objectives_fixture:quadratic", n_trials=3)
    study = open_study(plan, storage)
    dead = study.ask()
    dead.suggest_float("x", -3.0, 5.0)
    dead.suggest_int("y", -3, 3)
    storage.record_heartbeat(dead._trial_id)  # the worker beat once, then was SIGKILLed
    import time

    time.sleep(3)
    report = run_worker(plan, WorkerIdentity(name="survivor"), settings=settings)
    trials = optuna.load_study(study_name=study_name, storage=storage).trials
    assert trials[dead.number].state.name == "FAIL"
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retried) == 1
    assert retried[0].state.name == "COMPLETE"
    assert retried[0].params == trials[dead.number].params
    assert retried[0].system_attrs["retry_history"] == [dead.number]
    assert report.counts.complete == 3
    # The audit counts the retry apart: it is no duplicate.
    from hpo.query import StudyClient

    detail = StudyClient().summary(study_name)
    assert (detail.retried_trials, detail.duplicate_params) == (1, 0)
