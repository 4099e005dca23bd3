"""The fast store writes what stock Optuna writes, reads what other processes write, keeps every
finished trial through a crash, and needs fewer statements per trial (counted, not timed)."""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import time
import uuid
import wsgiref.util
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import event, text

from hpo.search_spaces.loader import parse_spec
from hpo.storage import FastRDBStorage, optuna_storage
from hpo.storage.sql import statement_count
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.trial_runner import WorkerIdentity, run_worker
from tests.hpo.storage.conftest import settings_for


def _write_study(storage: optuna.storages.BaseStorage, name: str) -> None:
    """Every kind of write a study gets, through Optuna's API, the same way on any storage."""
    sampler = optuna.samplers.RandomSampler(seed=3)
    study = optuna.create_study(
        study_name=name, storage=storage, direction="maximize", sampler=sampler
    )
    study.set_user_attr("owner", "tests")
    study.set_metric_names(["auc"])
    for i in range(4):
        trial = study.ask()
        x = trial.suggest_float("x", -1.0, 1.0)
        trial.suggest_float("lr", 1e-4, 1.0, log=True)
        trial.suggest_float("q", 0.0, 1.0, step=0.25)
        trial.suggest_int("n", 1, 9)
        trial.suggest_int("k", 2, 64, log=True)
        trial.suggest_categorical("c", ["a", "b", None, 1.5, True])
        trial.set_user_attr("worker", f"w{i}")
        trial.set_user_attr("nested", {"a": [1, 2], "t": (3, 4), "f": -0.0})
        study._storage.set_trial_system_attr(trial._trial_id, "sys", i)
        trial.report(0.5, 10)
        trial.report(float("nan"), 20)
        trial.report(float("-inf"), 30)
        study.tell(trial, x if i != 2 else float("inf"))
    pruned = study.ask()
    pruned.suggest_float("x", -1.0, 1.0)
    pruned.report(0.25, 10)
    study.tell(pruned, state=TrialState.PRUNED)
    failed = study.ask()
    study._storage.set_trial_system_attr(failed._trial_id, "fail_reason", "boom")
    study.tell(failed, state=TrialState.FAIL)
    study.enqueue_trial({"x": 0.5, "n": 3})
    running = study.ask()  # the enqueued trial, now RUNNING
    running.suggest_float("x", -1.0, 1.0)
    running.suggest_int("n", 1, 9)
    study.enqueue_trial({"x": -0.5})
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.1},
            distributions={"x": FloatDistribution(-1.0, 1.0)},
            value=0.1,
            user_attrs={"added": True},
            intermediate_values={1: 0.3},
        )
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _content(trial: FrozenTrial) -> dict[str, Any]:
    """What a trial holds, but its id and datetimes (which differ between two studies)."""
    return {
        "number": trial.number,
        "state": trial.state,
        "values": trial.values,
        "params": trial.params,
        "distributions": trial.distributions,
        "user_attrs": trial.user_attrs,
        "system_attrs": trial.system_attrs,
        "intermediate_values": trial.intermediate_values,
        "started": trial.datetime_start is not None,
        "completed": trial.datetime_complete is not None,
    }


_ROWS = {
    "trials": "SELECT t.number, t.state::text, t.datetime_start IS NULL, "
    "t.datetime_complete IS NULL FROM trials t",
    "trial_params": "SELECT t.number, c.param_name, c.param_value, c.distribution_json "
    "FROM trial_params c JOIN trials t USING (trial_id)",
    "trial_values": "SELECT t.number, c.objective, c.value, c.value_type::text "
    "FROM trial_values c JOIN trials t USING (trial_id)",
    "trial_user_attributes": "SELECT t.number, c.key, c.value_json "
    "FROM trial_user_attributes c JOIN trials t USING (trial_id)",
    "trial_system_attributes": "SELECT t.number, c.key, c.value_json "
    "FROM trial_system_attributes c JOIN trials t USING (trial_id)",
    "trial_intermediate_values": "SELECT t.number, c.step, c.intermediate_value, "
    "c.intermediate_value_type::text "
    "FROM trial_intermediate_values c JOIN trials t USING (trial_id)",
}


def _rows(storage: optuna.storages.RDBStorage, name: str) -> dict[str, list[tuple[Any, ...]]]:
    """The study's rows in Optuna's tables, without ids and datetimes; params in the order a
    reader sees them (by param_id)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with storage.engine.connect() as conn:
        sid = conn.execute(
            text("SELECT study_id FROM studies WHERE study_name = :n"), {"n": name}
        ).scalar_one()
        for table, query in _ROWS.items():
            order = "t.number, c.param_id" if table == "trial_params" else "1, 2, 3"
            sql = f"{query} WHERE t.study_id = :sid ORDER BY {order}"
            out[table] = [tuple(r) for r in conn.execute(text(sql), {"sid": sid})]
        for table in ("study_user_attributes", "study_system_attributes"):
            sql = f"SELECT key, value_json FROM {table} WHERE study_id = :sid ORDER BY key"
            out[table] = [tuple(r) for r in conn.execute(text(sql), {"sid": sid})]
    return out


def test_the_same_writes_make_the_same_rows(
    fast: FastRDBStorage, stock: optuna.storages.RDBStorage
) -> None:
    ours, theirs = f"fast-rows-{uuid.uuid4().hex[:8]}", f"stock-rows-{uuid.uuid4().hex[:8]}"
    _write_study(optuna_storage(fast), ours)
    _write_study(stock, theirs)
    mine, reference = _rows(fast, ours), _rows(stock, theirs)
    for table, rows in reference.items():
        assert _same(mine[table], rows), table


def test_stock_optuna_reads_the_fast_store_as_it_wrote_it(
    fast: FastRDBStorage, stock: optuna.storages.RDBStorage, pg_url: str
) -> None:
    ours, theirs = f"fast-read-{uuid.uuid4().hex[:8]}", f"stock-read-{uuid.uuid4().hex[:8]}"
    _write_study(optuna_storage(fast), ours)
    _write_study(stock, theirs)
    read = optuna.load_study(study_name=ours, storage=pg_url).trials  # stock Optuna, fresh
    reference = optuna.load_study(study_name=theirs, storage=pg_url).trials
    assert [_content(t) for t in read] != []
    assert _same([_content(t) for t in read], [_content(t) for t in reference])
    # ...and the fast store's own reads (cached or not) agree with stock Optuna's, to the
    # microsecond and trial id.
    for trials in (
        fast.get_all_trials(fast.get_study_id_from_name(ours)),
        [fast.get_trial(t._trial_id) for t in read],
    ):
        assert _same([t.__dict__ for t in trials], [t.__dict__ for t in read])


def test_optuna_dashboard_serves_the_study(fast: FastRDBStorage, pg_url: str) -> None:
    dashboard = pytest.importorskip("optuna_dashboard")
    name = f"fast-dash-{uuid.uuid4().hex[:8]}"
    _write_study(optuna_storage(fast), name)
    study_id = fast.get_study_id_from_name(name)
    app = dashboard.wsgi(optuna.storages.RDBStorage(pg_url))
    status: list[str] = []

    def start_response(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(code)

    environ: dict[str, Any] = {"PATH_INFO": f"/api/studies/{study_id}", "QUERY_STRING": "after=0"}
    wsgiref.util.setup_testing_defaults(environ)
    body = b"".join(app(environ, start_response))
    assert status == ["200 OK"], environ["wsgi.errors"].getvalue()
    assert b'"trials"' in body and b'"worker"' in body


def test_a_cache_sees_what_another_process_writes(pg_url: str) -> None:
    """Two storages (two engines: two processes, as far as the caches know) on one study."""
    reader = FastRDBStorage(pg_url, ensure_indexes=False)
    writer = FastRDBStorage(pg_url, ensure_indexes=False)
    try:
        study_id = writer.create_new_study([optuna.study.StudyDirection.MINIMIZE])
        assert reader.get_all_trials(study_id) == []
        first = writer.create_new_trial(study_id)
        second = writer.create_new_trial(study_id)
        states = [t.state for t in reader.get_all_trials(study_id, deepcopy=False)]
        assert states == [TrialState.RUNNING, TrialState.RUNNING]
        writer.set_trial_param(first, "x", 0.5, FloatDistribution(0.0, 1.0))
        writer.set_trial_state_values(first, TrialState.COMPLETE, [1.0])
        third = writer.create_new_trial(study_id)
        trials = reader.get_all_trials(study_id, deepcopy=False)
        assert [t.state for t in trials] == [
            TrialState.COMPLETE,
            TrialState.RUNNING,
            TrialState.RUNNING,
        ]
        assert trials[0].params == {"x": 0.5} and trials[0].values == [1.0]
        writer.set_trial_state_values(second, TrialState.FAIL)
        writer.set_trial_intermediate_value(third, 1, 0.5)
        trials = reader.get_all_trials(study_id, states=(TrialState.FAIL, TrialState.RUNNING))
        assert [(t.number, t.state) for t in trials] == [
            (1, TrialState.FAIL),
            (2, TrialState.RUNNING),
        ]
        assert trials[1].intermediate_values == {1: 0.5}
        assert reader.get_n_trials(study_id, TrialState.COMPLETE) == 1
        # Only trials numbered above the watermark and the unfinished ones are read again.
        cache = reader._studies[study_id]
        assert cache.watermark == 2 and cache.pending == {third}
    finally:
        reader.engine.dispose()
        writer.engine.dispose()


def test_owned_copy_is_dropped_when_another_process_finishes_the_trial(pg_url: str) -> None:
    mine = FastRDBStorage(pg_url, ensure_indexes=False)
    other = FastRDBStorage(pg_url, ensure_indexes=False)
    try:
        study_id = mine.create_new_study([optuna.study.StudyDirection.MINIMIZE])
        trial_id = mine.create_new_trial(study_id)
        other.set_trial_state_values(trial_id, TrialState.FAIL)  # e.g. a stale-heartbeat claim
        with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
            mine.set_trial_user_attr(trial_id, "worker", "w0")
        assert mine.get_trial(trial_id).state == TrialState.FAIL
    finally:
        mine.engine.dispose()
        other.engine.dispose()


def test_deferred_writes_land_in_one_statement_and_are_visible_inside(
    fast: FastRDBStorage,
) -> None:
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(storage=optuna_storage(fast), sampler=sampler)
    trial = study.ask()
    statements: list[str] = []
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(fast.engine, "before_cursor_execute", listener)
    try:
        with fast.deferred_writes(trial._trial_id):
            for key in ("worker", "host", "pool", "device"):
                trial.set_user_attr(key, key.upper())
            trial.suggest_float("x", 0.0, 1.0)
            trial.suggest_int("y", 0, 3)
            assert fast.get_trial(trial._trial_id).user_attrs["pool"] == "POOL"
            assert not [s for s in statements if "INSERT" in s]  # read, but nothing written
    finally:
        event.remove(fast.engine, "before_cursor_execute", listener)
    assert len([s for s in statements if "INSERT" in s]) == 1
    fresh = optuna.load_study(study_name=study.study_name, storage=str(fast.url)).trials[0]
    assert set(fresh.params) == {"x", "y"}
    assert fresh.user_attrs == {
        "worker": "WORKER",
        "host": "HOST",
        "pool": "POOL",
        "device": "DEVICE",
    }


def _count_statements(storage: optuna.storages.RDBStorage, run: Any) -> int:
    count = [0]

    def counter(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        count[0] += statement_count(statement)  # a message of several counts as several

    event.listen(storage.engine, "before_cursor_execute", counter)
    try:
        run()
    finally:
        event.remove(storage.engine, "before_cursor_execute", counter)
    return count[0]


SPACE = {
    "x": {"type": "float", "low": -3.0, "high": 5.0},
    "y": {"type": "int", "low": -3, "high": 3},
}


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_fewer_statements_per_trial_than_stock(pg_url: str, sampler: str) -> None:
    """The service's trial loop, 20 trials after 5 of warm-up, on each store."""
    spec = parse_spec(
        {"name": "count", "objective": "tests.objectives_fixture:quadratic", "params": SPACE}
    )
    per_trial = {}
    for fast in (True, False):
        settings = settings_for(pg_url, fast=fast)
        storage = get_storage(settings)
        name = f"count-{fast}-{uuid.uuid4().hex[:8]}"
        warm = StudyPlan(study_name=name, spec=spec, sampler=sampler, n_trials=5, seed=0)
        open_study(warm, storage)
        run_worker(warm, WorkerIdentity(name="w"), settings=settings)
        plan = warm.model_copy(update={"n_trials": 25})
        n = _count_statements(
            storage, partial(run_worker, plan, WorkerIdentity(name="w"), settings=settings)
        )
        per_trial[fast] = n / 20
    assert per_trial[True] <= 8.5  # claim count, create (3), params + attributes, finish
    assert per_trial[True] * 4 < per_trial[False]


def _crashing_worker(url: str, name: str, log: str) -> None:
    """Runs trials until killed; appends ``number value`` once ``tell`` has returned."""
    storage = FastRDBStorage(url, ensure_indexes=False)
    study = optuna.load_study(study_name=name, storage=optuna_storage(storage))

    def objective(trial: optuna.Trial) -> float:
        time.sleep(0.02)
        return trial.suggest_float("x", 0.0, 1.0)

    def finished(study: optuna.Study, trial: FrozenTrial) -> None:
        with open(log, "a") as f:
            f.write(f"{trial.number} {trial.value!r}\n")
            f.flush()
            os.fsync(f.fileno())

    study.optimize(objective, n_trials=10_000, callbacks=[finished])


def test_a_crash_loses_no_finished_trial(pg_url: str, tmp_path: Path) -> None:
    name = f"crash-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=pg_url)
    log = tmp_path / "finished.log"
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_crashing_worker, args=(pg_url, name, str(log)))
    proc.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 10:
            break
        time.sleep(0.01)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)  # mid-trial, or mid-write: no clean shutdown
    proc.join(timeout=30)
    told = {int(n): float(v) for n, v in (line.split() for line in log.read_text().splitlines())}
    trials = optuna.load_study(study_name=name, storage=pg_url).trials
    by_number = {t.number: t for t in trials}
    assert len(told) >= 10
    for number, value in told.items():
        assert by_number[number].state == TrialState.COMPLETE
        assert by_number[number].value == value
    states = Counter(t.state for t in trials)
    assert states[TrialState.RUNNING] <= 1  # at most the trial it was running
    assert states[TrialState.COMPLETE] >= len(told)
