"""32 worker processes against one PostgreSQL stay inside the documented connection budget:
at most `pool_size + max_overflow` (2 + 1) connections per process, never `too many clients`.

The server is one of this module's own (the embedded PostgreSQL, default `max_connections`):
on the shared test server, the Prefect servers of the session's fleets keep their own pools open
(up to 15 connections each), and with them 32 processes at 3 each could pass 100 whatever the
workers do."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections import Counter

import optuna
import psycopg
import pytest
from pydantic import SecretStr

from hpo.infra.embedded_postgres import ensure_embedded_server
from hpo.search_spaces.loader import parse_spec
from hpo.settings import DatabaseSettings, HpoSettings
from hpo.store import get_storage, libpq_url
from hpo.study_setup import StudyPlan, open_study

N_PROCESSES = 32
N_TRIALS = 96


def _settings(url: str, app: str) -> HpoSettings:
    return HpoSettings(database=DatabaseSettings(url=SecretStr(url), application_name=app))


def _plan(study_name: str) -> StudyPlan:
    spec = parse_spec(
        {
            "name": "budget",
            "objective": "tests.objectives_fixture:quadratic",
            "params": {"x": {"type": "float", "low": -3.0, "high": 5.0}},
        }
    )
    return StudyPlan(study_name=study_name, spec=spec, sampler="random", n_trials=N_TRIALS, seed=0)


def _worker(url: str, app: str, study_name: str, index: int) -> int:
    from hpo.workers.trial_runner import WorkerIdentity, run_worker

    report = run_worker(
        _plan(study_name), WorkerIdentity(name=f"p{index}"), settings=_settings(url, app)
    )
    return report.counts.complete


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a PostgreSQL server that only this module's processes use."""
    data_dir = tmp_path_factory.mktemp("budget-pg")
    return ensure_embedded_server(DatabaseSettings(data_dir=data_dir))


@pytest.mark.slow
def test_32_worker_processes_stay_within_the_budget(own_server: str, study_name: str) -> None:
    pg_url = own_server
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('max_connections')::int").fetchone()
    assert row is not None and row[0] >= 100  # PostgreSQL's default, as on the shared server
    app = f"hpo-budget-{uuid.uuid4().hex[:6]}"
    settings = _settings(pg_url, app)
    open_study(_plan(study_name), get_storage(settings))
    per_process = settings.database.pool_size + settings.database.max_overflow

    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        with psycopg.connect(libpq_url(pg_url), autocommit=True) as conn:
            while not stop.wait(0.05):
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
                ).fetchone()
                peak = max(peak, row[0] if row else 0)

    watcher = threading.Thread(target=watch)
    watcher.start()
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["hpo.workers.trial_runner", "tests.objectives_fixture"])
    try:
        with ctx.Pool(N_PROCESSES) as pool:
            done = pool.starmap(_worker, [(pg_url, app, study_name, i) for i in range(N_PROCESSES)])
    finally:
        stop.set()
        watcher.join()

    assert sum(done) == N_TRIALS
    study = optuna.load_study(study_name=study_name, storage=pg_url)
    assert Counter(t.state.name for t in study.trials) == Counter({"COMPLETE": N_TRIALS})
    # The parent's own engine (open_study) counts too: +1 process.
    assert 0 < peak <= (N_PROCESSES + 1) * per_process, peak
    print(f"peak connections: {peak} for {N_PROCESSES} worker processes")
