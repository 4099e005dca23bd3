"""Trial leases on a real PostgreSQL: a dead worker's RUNNING trial is failed with a reason and
retried, and a study is never left short because a dead trial held a slot when the budget
looked taken; objectives that call sys.exit() or raise KeyboardInterrupt fail only their trial."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections import Counter
from typing import Any

import optuna
import pytest

from hpo.infra.processes import pid_alive
from hpo.search_spaces.loader import parse_spec
from hpo.settings import get_settings
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.trial_runner import WorkerIdentity, run_worker

SPACE = {"x": {"type": "float", "low": -3.0, "high": 5.0}}


def _plan(study_name: str, n_trials: int, objective: str = "quadratic") -> StudyPlan:
    spec = parse_spec(
        {"name": "t", "objective": f"tests.objectives_fixture:{objective}", "params": SPACE}
    )
    return StudyPlan(study_name=study_name, spec=spec, sampler="random", n_trials=n_trials, seed=3)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not pid_alive(proc.pid)
    return proc.pid


def _running_trial(study: optuna.Study, host: str, pid: int, x: float) -> optuna.Trial:
    """A RUNNING trial as a worker on ``host`` with process ``pid`` leaves it when it dies."""
    trial = study.ask()
    study._storage.record_heartbeat(trial._trial_id)  # it beat once, then died
    study._storage.set_trial_param(
        trial._trial_id, "x", x, optuna.distributions.FloatDistribution(-3.0, 5.0)
    )
    for key, value in {"worker": "dead-w0", "host": host, "pid": pid}.items():
        trial.set_user_attr(key, value)
    return trial


def _trials(study_name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study_name, storage=get_storage()).trials


def test_dead_local_worker_is_reaped_at_once(pg_url: str, study_name: str) -> None:
    plan = _plan(study_name, n_trials=4)
    study = open_study(plan, get_storage())
    pid = _dead_pid()
    orphan = _running_trial(study, socket.gethostname(), pid, x=4.5)

    report = run_worker(plan, WorkerIdentity(name="w0"))  # no grace period to wait out

    trials = _trials(study_name)
    assert Counter(t.state.name for t in trials) == Counter({"COMPLETE": 4, "FAIL": 1})
    dead = trials[orphan.number]
    assert dead.state.name == "FAIL"
    assert dead.system_attrs["fail_reason"] == (
        f"its worker process {pid} on {socket.gethostname()} is gone (killed or crashed)"
    )
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == orphan.number]
    assert len(retried) == 1 and retried[0].state.name == "COMPLETE"
    assert retried[0].params == {"x": 4.5}  # the same params, run again
    assert report.counts.complete == 4 and report.stopped_because == "budget reached"


def test_budget_waits_for_a_silent_lease(
    pg_url: str, study_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPO_WORKER_HEARTBEAT_INTERVAL_S", "1")
    monkeypatch.setenv("HPO_WORKER_GRACE_PERIOD_S", "3")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        plan = _plan(study_name, n_trials=3)
        study = open_study(plan, get_storage(settings))
        # A worker on another machine that went silent: only its lease can tell.
        orphan = _running_trial(study, "some-other-host", 12345, x=-2.5)
        report = run_worker(plan, WorkerIdentity(name="w0"), settings=settings)
    finally:
        get_settings.cache_clear()

    trials = _trials(study_name)
    assert Counter(t.state.name for t in trials) == Counter({"COMPLETE": 3, "FAIL": 1})
    assert trials[orphan.number].system_attrs["fail_reason"] == (
        "no heartbeat for 3 s: its worker died or lost the store"
    )
    assert [t.params for t in trials if t.system_attrs.get("failed_trial") == orphan.number] == [
        {"x": -2.5}
    ]
    assert report.counts.complete == 3


def test_objective_cannot_end_the_worker(pg_url: str, study_name: str) -> None:
    plan = _plan(study_name, n_trials=12, objective="exits_for_negative_x")
    open_study(plan, get_storage())
    reports = []
    worker = threading.Thread(  # as in `hpo tune`: workers are threads, Ctrl-C hits the main one
        target=lambda: reports.append(run_worker(plan, WorkerIdentity(name="w0")))
    )
    worker.start()
    worker.join()
    (report,) = reports
    trials = _trials(study_name)
    reasons: dict[str, Any] = Counter(
        t.system_attrs["fail_reason"] for t in trials if t.state.name == "FAIL"
    )
    assert set(reasons) <= {
        "the objective raised SystemExit(3)",
        "the objective raised KeyboardInterrupt",
    }
    assert len(reasons) == 2  # both happened (x is uniform on [-3, 5]; seed 3 draws both)
    assert sum(t.state.name == "COMPLETE" for t in trials) == 12
    assert report.counts.complete == 12 and report.counts.fail == sum(reasons.values())


def test_ctrl_c_in_the_main_thread_fails_the_trial_and_stops(pg_url: str, study_name: str) -> None:
    plan = _plan(study_name, n_trials=12, objective="exits_for_negative_x")
    open_study(plan, get_storage())
    with pytest.raises(KeyboardInterrupt):
        run_worker(plan, WorkerIdentity(name="w0"))
    trials = _trials(study_name)
    assert "RUNNING" not in {t.state.name for t in trials}
    assert trials[-1].system_attrs["fail_reason"] == "interrupted (Ctrl-C)"
