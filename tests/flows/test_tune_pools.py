"""The fan-out on the real thing: a `prefect server` process (on PostgreSQL when the tests have
one), the work pools and deployments of prefect.yaml, two `prefect worker` processes on the CPU
pool, `hpo tune --cpu-workers 2`. The study store is an embedded PostgreSQL of this module, so
one test can restart it mid-study.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from hpo.infra.embedded_postgres import ensure_embedded_server, restart_embedded_server
from hpo.infra.local_fleet import LocalFleet, create_prefect_database
from hpo.settings import DatabaseSettings
from tests.support import trial_worker_runs, wait_for

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

GRACE_S = 4


@pytest.fixture(scope="module")
def store_settings(tmp_path_factory: pytest.TempPathFactory) -> DatabaseSettings:
    return DatabaseSettings(data_dir=Path(tmp_path_factory.mktemp("fleet-store")))


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, store_settings: DatabaseSettings, pg_url: str
) -> Iterator[LocalFleet]:
    study_db = ensure_embedded_server(store_settings)
    prefect_db, drop = create_prefect_database(pg_url)
    fleet = LocalFleet(
        home=Path(tmp_path_factory.mktemp("fleet")),
        study_db_url=study_db,
        prefect_db_url=prefect_db,
        user_code=(REPO,),  # tests.objectives_fixture
        extra_env={
            "HPO_WORKER_HEARTBEAT_INTERVAL_S": "1",
            "HPO_WORKER_GRACE_PERIOD_S": str(GRACE_S),
        },
    )
    try:
        fleet.start_server()
        fleet.setup()
        fleet.start_worker("cpu", limit=2)
        fleet.start_worker("cpu", limit=2)
        fleet.start_worker("gpu", name="gpu-0")  # `hpo worker start --pool gpu --gpu 0`
        yield fleet
    finally:
        fleet.stop()
        drop()


@pytest.fixture(scope="module")
def gpu_run(
    fleet: LocalFleet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`hpo tune --gpu-workers 1` on this GPU-less machine, started by the first test that asks
    for it (so that its flow runs overlap that test's, on the other pool) and checked by
    test_a_gpu_worker_without_a_gpu_fails_fast."""
    study = f"gpu-{uuid.uuid4().hex[:8]}"
    spec = _spec(tmp_path_factory.mktemp("gpu"), 0.1)
    proc = _tune(fleet, spec, "--n-trials", "4", "--gpu-workers", "1", "--study", study)
    yield study, proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def _spec(tmp_path: Path, sleep_s: float, **extra: Any) -> str:
    params = {
        "x": {"type": "float", "low": -3.0, "high": 5.0},
        "sleep_s": {"type": "categorical", "choices": [sleep_s]},
    }
    raw = {"name": "fleet", "objective": "tests.objectives_fixture:sleep_param", "params": params}
    raw.update(extra)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _tune(fleet: LocalFleet, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hpo", "tune", *args, "--no-progress"],
        env=fleet.env,
        cwd=fleet.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def _trials(fleet: LocalFleet, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=fleet.study_db_url).trials


def test_exact_budget_and_grid_through_the_deployments(
    fleet: LocalFleet, tmp_path: Path, gpu_run: tuple[str, subprocess.Popen[str]]
) -> None:
    """Two tune runs at once on the same two workers: a TPE study must end with exactly its
    budget, shared by two flow-run processes; a grid study must run each point exactly once.
    (The GPU-pool run of ``gpu_run`` runs meanwhile; its own test checks it.)"""
    study, grid_study = f"pools-{uuid.uuid4().hex[:8]}", f"grid-{uuid.uuid4().hex[:8]}"
    (tmp_path / "tpe").mkdir()
    (tmp_path / "grid").mkdir()
    grid = [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    tpe_run = _tune(fleet, _spec(tmp_path / "tpe", 0.3), "--n-trials", "20", "--cpu-workers", "2",
                    "--study", study)  # fmt: skip
    grid_run = _tune(fleet, _spec(tmp_path / "grid", 0.2, grid={"x": grid}), "--sampler", "grid",
                     "--n-trials", "100", "--cpu-workers", "2", "--study", grid_study)  # fmt: skip
    out = _finish(tpe_run)
    _finish(grid_run)

    assert "finished: 20/20" in out
    trials = _trials(fleet, study)
    assert Counter(t.state.name for t in trials) == Counter({"COMPLETE": 20})
    assert {t.user_attrs["pool"] for t in trials} == {"cpu"}
    assert {t.user_attrs["device"] for t in trials} == {"cpu"}
    workers = Counter(t.user_attrs["worker"] for t in trials)
    assert len(workers) == 2, workers  # two flow-run processes shared the study
    assert len({t.params["x"] for t in trials}) == 20  # and never repeated a point (issue 11)

    grid_trials = _trials(fleet, grid_study)
    assert sorted(t.params["x"] for t in grid_trials) == grid
    assert all(t.state.name == "COMPLETE" for t in grid_trials)


def test_four_worker_runs_never_repeat_a_point(fleet: LocalFleet, tmp_path: Path) -> None:
    """Issue 11 on the pools: 4 trial-worker runs (processes) of one study, seeded alike as
    `hpo tune` seeds them: every finished trial has its own params (before the fix each run
    replayed the same random draws) and the budget is exact. (TPE on the pools:
    test_exact_budget_and_grid_through_the_deployments; every sampler in-process:
    tests/hpo/test_sampler_streams.py.)"""
    study = f"distinct-{uuid.uuid4().hex[:8]}"
    proc = _tune(fleet, _spec(tmp_path, 0.2), "--sampler", "random", "--n-trials", "12",
                 "--cpu-workers", "4", "--study", study)  # fmt: skip
    _finish(proc)
    trials = _trials(fleet, study)
    assert Counter(t.state.name for t in trials) == Counter({"COMPLETE": 12})
    xs = Counter(t.params["x"] for t in trials)
    assert len(xs) == 12, {x: n for x, n in xs.items() if n > 1}
    assert len({t.user_attrs["worker"] for t in trials}) >= 2  # several processes drew points

    # The runs are named when they are created, not renamed as they start (one API call fewer
    # per run before Running): the workers submitted them under their final names already.
    children = {r.name for r in trial_worker_runs(fleet, study)}
    assert children == {f"{study}-cpu-{i}" for i in range(4)}
    logs = "".join(p.read_text() for p in (fleet.home / "logs").glob("worker-cpu-*.log"))
    for name in children:
        assert f"Flow run '{name}' submitted to infrastructure" in logs


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _engine_client_of(child: int) -> int:
    """The ``python -m hpo.flows.engine`` process whose stdout the flow run's process writes
    to: the process itself (no zygote) or the zygote client it was forked for."""
    out = os.readlink(f"/proc/{child}/fd/1")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if argv[:3] == [b"python", b"-m", b"hpo.flows.engine"] and (
                os.readlink(entry / "fd" / "1") == out
            ):
                return int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"no hpo.flows.engine process shares the stdout of {child}")


def test_sigkill_of_a_worker_mid_trial(fleet: LocalFleet, tmp_path: Path) -> None:
    study = f"kill-{uuid.uuid4().hex[:8]}"
    trial_s = 1.5
    proc = _tune(fleet, _spec(tmp_path, trial_s), "--n-trials", "12", "--cpu-workers", "2",
                 "--study", study)  # fmt: skip

    def fresh_running_trial() -> optuna.trial.FrozenTrial | None:
        """A RUNNING trial that started less than half a trial ago (so its worker is still in
        it when the kill lands), once two trials are done."""
        try:
            trials = _trials(fleet, study)
        except KeyError:
            return None
        now = datetime.now()  # Optuna's datetimes are local and naive
        done = sum(t.state.name == "COMPLETE" for t in trials)
        running = [
            t
            for t in trials
            if t.state.name == "RUNNING"
            and "worker" in t.user_attrs
            and t.datetime_start is not None
            and (now - t.datetime_start).total_seconds() < trial_s / 2
        ]
        return running[0] if done >= 2 and running else None

    victim = wait_for(fresh_running_trial, 120, "no trial ran")
    child = int(victim.user_attrs["worker"].rsplit("-", 2)[-2])  # the process in the trial
    # The pools' command (hpo.flows.engine, with the worker's own interpreter first on PATH) is
    # what the Prefect worker started, no workspace supervisor between; it is the zygote's
    # client, and the trial runs in a fork of the worker's zygote that writes to its stdout.
    pid = _engine_client_of(child)
    assert pid != child  # the worker's zygote ran the flow run
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    parent = Path(f"/proc/{ppid}/cmdline").read_bytes().split(b"\0")
    environ = dict(
        line.split(b"=", 1) for line in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if b"=" in line
    )  # fmt: skip
    os.kill(pid, signal.SIGKILL)  # the flow-run process Prefect started, mid-trial
    assert argv[:3] == [b"python", b"-m", b"hpo.flows.engine"], argv
    assert b"prefect.runner._workspace_supervisor" not in parent, parent
    assert environ[b"PATH"].split(b":")[0] == os.path.dirname(sys.executable).encode()
    # `hpo worker start` set the worker's poll (HPO_WORKER_POLL_S, 1 s; Prefect's own: 10 s).
    assert "PREFECT_WORKER_QUERY_SECONDS" not in fleet.env
    assert float(environ[b"PREFECT_WORKER_QUERY_SECONDS"]) == 1.0  # Prefect passes it on
    # The API is plain HTTP: Prefect's clients load the no-trust file, not a CA bundle
    # (hpo.infra.prefect_tls); this flow run and its replacement talk to the API with it.
    assert environ[b"PREFECT_API_SSL_CERT_FILE"].endswith(b"/hpo-no-trust-ca.pem")
    # Its flow run goes with it at once (the zygote's handler SIGKILLs it).
    wait_for(lambda: not Path(f"/proc/{child}").exists() or _zombie(child), 10, "child lives")

    out = _finish(proc)
    trials = _trials(fleet, study)
    states = Counter(t.state.name for t in trials)
    assert states["COMPLETE"] == 12
    assert states["RUNNING"] == 0
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert [t.user_attrs["worker"] for t in failed] == [victim.user_attrs["worker"]]
    assert failed[0].number == victim.number  # the trial the worker was in when killed
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == victim.params
    assert retries[0].system_attrs["retry_history"] == [victim.number]
    assert "crashed; starting a replacement" in out
    # The audit of `hpo studies show` counts the retry apart: no duplicate params.
    from hpo.query import StudyClient

    detail = StudyClient.from_url(fleet.study_db_url).summary(study)
    assert (detail.retried_trials, detail.duplicate_params) == (1, 0)


def test_postgres_restart_mid_study(
    fleet: LocalFleet, store_settings: DatabaseSettings, tmp_path: Path
) -> None:
    """One restart of the store under two runs: one on the pools, one in-process (whose flow
    polls progress and publishes artifacts: every read must ride the restart out too)."""
    study, local = f"restart-{uuid.uuid4().hex[:8]}", f"restart-local-{uuid.uuid4().hex[:8]}"
    spec = _spec(tmp_path, 0.5)
    proc = _tune(fleet, spec, "--n-trials", "14", "--cpu-workers", "2", "--study", study)
    local_proc = _tune(fleet, spec, "--n-trials", "10", "--workers", "2", "--study", local)

    def some_done() -> bool:
        try:
            return all(
                sum(t.state.name == "COMPLETE" for t in _trials(fleet, s)) >= 3
                for s in (study, local)
            )
        except KeyError:
            return False

    wait_for(some_done, 120, "no trial completed")
    restart = threading.Thread(target=restart_embedded_server, args=(store_settings,))
    restart.start()
    restart.join(timeout=60)
    _finish(proc)
    out = _finish(local_proc)
    assert "finished: 10/10" in out and "Traceback" not in out
    for name, n_trials in ((study, 14), (local, 10)):
        states = Counter(t.state.name for t in _trials(fleet, name))
        assert states["COMPLETE"] == n_trials
        assert states["RUNNING"] == 0


def test_a_gpu_worker_without_a_gpu_fails_fast(
    fleet: LocalFleet, gpu_run: tuple[str, subprocess.Popen[str]]
) -> None:
    """This machine has no GPU: a worker on the GPU pool (device pinned, GPU slot created) must
    fail its run at once with the device error, and the tune run must say so."""
    study, proc = gpu_run
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode != 0
    assert "device 'cuda' was requested but no usable GPU is visible" in out
    assert "HPO_WORKER_ALLOW_CPU_FALLBACK" in out
    assert Counter(t.state.name for t in _trials(fleet, study)) == Counter()
