"""Cutting trials that never return, on a real PostgreSQL: ``budget.timeout_s`` ends a trial
that sleeps forever (FAIL "timeout", its slot freed, the worker stops), and a stop request cuts
a trial at its next report (no Prefect: the trial loop itself)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import optuna
import pytest

from hpo.search_spaces.loader import parse_spec
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers import interrupt
from hpo.workers.trial_runner import WorkerIdentity, run_worker


@pytest.fixture(autouse=True)
def no_stop_request() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


def _plan(study_name: str, objective: str, n_trials: int = 4) -> StudyPlan:
    spec = parse_spec({
        "name": "t", "objective": f"tests.objectives_fixture:{objective}",
        "params": {"x": {"type": "float", "low": -3.0, "high": 5.0}},
    })  # fmt: skip
    return StudyPlan(study_name=study_name, spec=spec, sampler="random", n_trials=n_trials, seed=0)


def test_timeout_cuts_a_trial_that_never_returns(pg_url: str, study_name: str) -> None:
    plan = _plan(study_name, "never_returns")
    open_study(plan, get_storage())
    started = time.monotonic()
    report = run_worker(plan, WorkerIdentity(name="w0"), deadline=time.time() + 1.5)
    assert time.monotonic() - started < 60  # the trial alone would sleep an hour
    assert report.stopped_because == "timeout" and report.counts.fail == 1
    (trial,) = optuna.load_study(study_name=study_name, storage=get_storage()).trials
    assert trial.state.name == "FAIL"
    assert trial.system_attrs["fail_reason"] == (
        "timeout: still running when budget.timeout_s ran out"
    )


def test_stop_request_cuts_a_reporting_trial_and_ends_the_worker(
    pg_url: str, study_name: str
) -> None:
    plan = _plan(study_name, "long_trial")  # trial 0 reports every 0.1 s
    open_study(plan, get_storage())
    threading.Timer(1.0, interrupt.request_stop).start()
    report = run_worker(plan, WorkerIdentity(name="w0"))
    assert report.stopped_because == "interrupted" and report.counts.fail == 1
    (trial,) = optuna.load_study(study_name=study_name, storage=get_storage()).trials
    assert trial.system_attrs["fail_reason"] == "interrupted (Ctrl-C)"
