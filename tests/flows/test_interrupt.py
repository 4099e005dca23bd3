"""Ctrl-C of `hpo tune` as a terminal sends it (SIGINT to the whole process group), with the
Prefect server outside that group as `hpo server` runs it: the run stops claiming, cuts the
trial that reports, fails the silent one after the grace, prints one line and exits 130; a
second Ctrl-C quits at once, and the trial it leaves RUNNING is failed as soon as a worker on
the same machine looks (its process is gone)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from hpo.infra.local_fleet import LocalFleet
from hpo.leases import reap_orphans
from hpo.store import get_storage

pytestmark = pytest.mark.slow


def _start(fleet: LocalFleet, tmp_path: Path, study: str) -> subprocess.Popen[str]:
    spec = tmp_path / "long.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "long", "objective": "tests.objectives_fixture:long_trial",
        "params": {"x": {"type": "float", "low": -3.0, "high": 5.0}},
    }))  # fmt: skip
    env = {**os.environ, "PREFECT_API_URL": fleet.api_url, "HPO_WORKER_INTERRUPT_GRACE_S": "3"}
    return subprocess.Popen(
        [sys.executable, "-m", "hpo", "tune", str(spec), "--n-trials", "6", "--workers", "2",
         "--study", study, "--sampler", "random", "--no-progress"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group, as a shell job
    )  # fmt: skip


def _wait_running(study: str, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            trials = optuna.load_study(study_name=study, storage=get_storage()).trials
        except KeyError:
            trials = []
        if sum(t.state.name == "RUNNING" for t in trials) >= n:
            return
        time.sleep(0.3)
    raise TimeoutError(f"{study}: fewer than {n} running trials")


def _trials(study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=get_storage()).trials


def test_ctrl_c_stops_the_run_cleanly(
    shared_fleet: LocalFleet, tmp_path: Path, study_name: str
) -> None:
    proc = _start(shared_fleet, tmp_path, study_name)
    _wait_running(study_name, 2)
    stopped_at = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-3000:]
    assert time.monotonic() - stopped_at < 30  # the grace is 3 s; a minute-long trial is cut
    assert "Traceback" not in out
    assert out.strip().splitlines()[-1] == (
        f"interrupted: study {study_name!r} holds 0 of 6 finished trials; "
        "run the same command again to resume it"
    )
    trials = _trials(study_name)
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]  # nothing RUNNING, nothing new
    reasons = sorted(t.system_attrs["fail_reason"] for t in trials)
    assert reasons == [
        "interrupted (Ctrl-C)",  # the trial that reports: cut at its next report
        "interrupted (Ctrl-C): still running at the end of the grace period",  # the silent one
    ]


def test_second_ctrl_c_quits_at_once(
    shared_fleet: LocalFleet, tmp_path: Path, study_name: str
) -> None:
    proc = _start(shared_fleet, tmp_path, study_name)
    _wait_running(study_name, 2)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.5)
    stopped_at = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130, out[-3000:]
    assert time.monotonic() - stopped_at < 30, out  # without waiting for a minute-long trial
    assert "interrupted again: quitting now" in out and "Traceback" not in out
    # The silent trial was left RUNNING by a process that is gone: the next look fails it.
    study = optuna.load_study(study_name=study_name, storage=get_storage())
    assert reap_orphans(study, get_storage(), socket.gethostname()) == 1
    trials = _trials(study_name)
    assert "RUNNING" not in {t.state.name for t in trials}
    assert any(
        t.system_attrs.get("fail_reason", "").startswith("its worker process") for t in trials
    )
