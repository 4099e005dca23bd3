"""Exact budgets with the fast store, whose claims hold the study lock only while creating the
trial; and with fast and stock workers on the same study at once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import optuna
import pytest
from pydantic import SecretStr

from hpo.claims import claim_counts, count_trials
from hpo.search_spaces.loader import parse_spec
from hpo.settings import DatabaseSettings, HpoSettings, WorkerSettings
from hpo.storage import FastRDBStorage, optuna_storage
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.trial_runner import WorkerIdentity, WorkerReport, run_worker

SPACE = {
    "x": {"type": "float", "low": -3.0, "high": 5.0},
    "y": {"type": "int", "low": -3, "high": 3},
}


def _settings(pg_url: str, *, fast: bool = True, **worker: Any) -> HpoSettings:
    return HpoSettings(
        database=DatabaseSettings(url=SecretStr(pg_url), fast_store=fast, pool_size=8),
        worker=WorkerSettings(**worker),
    )


def _plan(study_name: str, objective: str, n_trials: int, **extra: Any) -> StudyPlan:
    sampler = extra.pop("sampler", "random")
    spec = parse_spec({"name": "c", "objective": objective, "params": SPACE, **extra})
    return StudyPlan(study_name=study_name, spec=spec, sampler=sampler, n_trials=n_trials, seed=1)


def _run(plan: StudyPlan, settings: list[HpoSettings]) -> list[WorkerReport]:
    """One worker thread per settings, all on the plan's study."""
    open_study(plan, get_storage(settings[0]))
    reports: list[WorkerReport] = []
    errors: list[BaseException] = []

    def work(i: int, s: HpoSettings) -> None:
        try:
            reports.append(run_worker(plan, WorkerIdentity(name=f"w{i}"), settings=s))
        except BaseException as exc:  # noqa: B036 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(settings)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return reports


def _states(pg_url: str, study_name: str) -> Counter[str]:
    study = optuna.load_study(study_name=study_name, storage=pg_url)
    return Counter(t.state.name for t in study.trials)


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_exact_budget_with_the_fast_store(pg_url: str, study_name: str, sampler: str) -> None:
    plan = _plan(study_name, "tests.objectives_fixture:sleepy", 24, sampler=sampler)
    reports = _run(plan, [_settings(pg_url)] * 6)
    assert _states(pg_url, study_name) == Counter({"COMPLETE": 24})
    assert sum(r.counts.complete for r in reports) == 24
    assert {r.stopped_because for r in reports} == {"budget reached"}


def test_exact_budget_with_fast_and_stock_workers_together(pg_url: str, study_name: str) -> None:
    plan = _plan(study_name, "tests.objectives_fixture:sleepy", 30)
    settings = [_settings(pg_url, fast=True)] * 3 + [_settings(pg_url, fast=False)] * 3
    reports = _run(plan, settings)
    assert _states(pg_url, study_name) == Counter({"COMPLETE": 30})
    assert all(r.counts.complete > 0 for r in reports)  # both kinds of worker took part
    trials = optuna.load_study(study_name=study_name, storage=pg_url).trials
    assert sorted(t.number for t in trials) == list(range(30))  # numbered once each


def test_grid_points_run_once_with_the_fast_store(pg_url: str, study_name: str) -> None:
    space = {
        "x": {"type": "float", "low": 0.0, "high": 5.0, "step": 1.0},
        "y": {"type": "int", "low": -1, "high": 0},
    }
    spec = parse_spec(
        {"name": "g", "objective": "tests.objectives_fixture:sleepy", "params": space}
    )
    plan = StudyPlan(study_name=study_name, spec=spec, sampler="grid", n_trials=100, seed=0)
    reports = _run(plan, [_settings(pg_url)] * 4)
    study = optuna.load_study(study_name=study_name, storage=pg_url)
    points = Counter((t.params["x"], t.params["y"]) for t in study.trials)
    assert len(points) == 12 and set(points.values()) == {1}
    assert {r.stopped_because for r in reports} == {"grid exhausted or budget reached"}


def test_failures_stop_the_fast_workers(pg_url: str, study_name: str) -> None:
    plan = _plan(
        study_name, "tests.objectives_fixture:always_fails", 50, budget={"max_failed_trials": 5}
    )
    reports = _run(plan, [_settings(pg_url)] * 2)
    states = _states(pg_url, study_name)
    assert states["COMPLETE"] == 0 and 5 <= states["FAIL"] <= 6
    assert all("trials failed" in r.stopped_because for r in reports)
    assert all(
        t.system_attrs["fail_reason"].startswith("ValueError")
        for t in optuna.load_study(study_name=study_name, storage=pg_url).trials
    )


def test_stale_trial_is_failed_and_retried_by_a_fast_claim(pg_url: str, study_name: str) -> None:
    settings = _settings(pg_url, heartbeat_interval_s=1, grace_period_s=2)
    storage = get_storage(settings)
    assert isinstance(storage, FastRDBStorage)
    plan = _plan(study_name, "tests.objectives_fixture:quadratic", 3)
    study = open_study(plan, storage)
    dead = study.ask()  # the fast store writes its first heartbeat with it
    dead.suggest_float("x", -3.0, 5.0)
    dead.suggest_int("y", -3, 3)
    time.sleep(3)  # ...and then the worker was SIGKILLed: no more heartbeats
    report = run_worker(plan, WorkerIdentity(name="survivor"), settings=settings)
    trials = optuna.load_study(study_name=study_name, storage=pg_url).trials
    assert trials[dead.number].state.name == "FAIL"
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retried) == 1 and retried[0].state.name == "COMPLETE"
    assert retried[0].params == trials[dead.number].params
    assert report.counts.complete == 3


def test_claim_counts_agree_with_the_exact_count(pg_url: str, study_name: str) -> None:
    settings = _settings(pg_url)
    storage = get_storage(settings)
    plan = _plan(
        study_name, "tests.objectives_fixture:flaky", 12, budget={"max_failed_trials": 100}
    )
    _run(plan, [settings] * 2)
    assert isinstance(storage, FastRDBStorage)
    study = optuna.load_study(study_name=study_name, storage=optuna_storage(storage))
    study.enqueue_trial({"x": 2.0, "y": 0})
    exact = count_trials(storage, study._study_id)
    with storage.engine.connect() as conn:
        fast = claim_counts(conn, study._study_id, storage)
    assert fast.total == exact.running + exact.complete + exact.pruned + exact.fail + exact.waiting
    assert (fast.running, fast.fail, fast.waiting) == (exact.running, exact.fail, exact.waiting)
    assert fast.slots_taken == exact.slots_taken == 12
    assert exact.fail > 0 and exact.waiting == 1
