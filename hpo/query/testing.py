"""Large synthetic studies for tests and benchmarks, written in seconds.

:func:`generate_study` creates the study through Optuna's API (``optuna.create_study``, study
user attributes through ``Study.set_user_attr``), then bulk-loads N trials with PostgreSQL
``COPY`` straight into Optuna's tables, one transaction for the lot. The rows are the ones
Optuna itself writes (checked against ``optuna.load_study`` in ``tests/hpo/query``):

* ``trials``: ``number`` counts the study's earlier trials in ``trial_id`` order; datetimes are
  naive UTC; WAITING trials have no start, RUNNING and WAITING trials no completion.
* ``trial_values``: objective 0, ``value_type`` FINITE (the generated values are finite; Optuna
  stores an infinite one as NULL plus INF_POS / INF_NEG). COMPLETE trials have a value; PRUNED
  trials carry their last intermediate value, as ``study.tell(trial, state=PRUNED)`` does.
* ``trial_params``: values in the distribution's internal representation (a categorical is the
  index of its choice) with ``distributions.distribution_to_json``.
* attributes: ``json.dumps`` of the value. Trials carry the user attributes a worker sets
  (``worker``, ``host``, ``pool``, ``device``); FAIL trials the system attribute
  ``fail_reason``; WAITING trials ``fixed_params`` (an enqueued trial, no params yet).

Through Optuna's API 100,000 trials take over an hour; here about ten seconds
(``docs/query-benchmark.md`` records the time). When the role may (a superuser), the load skips
the per-row foreign-key checks for its own transaction, as ``pg_restore --disable-triggers``
does; every row it writes references a trial it wrote. This writes to Optuna's tables and
exists for tests and benchmarks only: never point it at a production store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import optuna
import psycopg
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from hpo.store import libpq_url

#: The search space of generated studies. ``dart_rate`` is conditional (only when booster=dart).
SEARCH_SPACE: dict[str, BaseDistribution] = {
    "lr": FloatDistribution(1e-4, 1.0, log=True),
    "max_depth": IntDistribution(2, 12),
    "subsample": FloatDistribution(0.5, 1.0),
    "n_estimators": IntDistribution(50, 500, step=50),
    "booster": CategoricalDistribution(["gbtree", "dart", "gblinear"]),
    "dart_rate": FloatDistribution(0.0, 0.5),
}
_BOOSTER_PENALTY = np.array([0.0, 0.1, 0.5])  # by choice index: gbtree, dart, gblinear
_DEVICES = ("cpu", "cuda")
_N_WORKERS = 8
_CHUNK_ROWS = 20_000

#: Columns written per table, in load order (parents first).
_COLUMNS = {
    "trials": "trial_id, number, study_id, state, datetime_start, datetime_complete",
    "trial_values": "trial_id, objective, value, value_type",
    "trial_params": "trial_id, param_name, param_value, distribution_json",
    "trial_user_attributes": "trial_id, key, value_json",
    "trial_system_attributes": "trial_id, key, value_json",
    "trial_intermediate_values": "trial_id, step, intermediate_value, intermediate_value_type",
}


@dataclass(frozen=True)
class GeneratedStudy:
    """What :func:`generate_study` wrote."""

    study_name: str
    study_id: int
    direction: str
    n_trials: int
    states: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Sample:
    """Everything random about the trials, one array per column (drawn at once with numpy)."""

    states: list[str]
    params: dict[str, list[float]]  # internal representation, as stored
    objective: list[float]
    start: list[str]  # naive UTC, COPY text
    complete: list[str]


def _draw(
    n: int, n_running: int, n_waiting: int, seed: int, t0: datetime, value_offset: float
) -> _Sample:
    rng = np.random.default_rng(seed)
    draw = rng.random(n)
    states = np.where(draw < 0.04, "FAIL", np.where(draw < 0.11, "PRUNED", "COMPLETE"))
    states = states.astype(object)
    states[n - n_waiting - n_running : n - n_waiting] = "RUNNING"
    states[n - n_waiting :] = "WAITING"
    log_lr = rng.uniform(-4.0, 0.0, n)
    max_depth = rng.integers(2, 13, n)
    subsample = rng.uniform(0.5, 1.0, n)
    booster = rng.integers(0, 3, n)
    params = {
        "lr": 10.0**log_lr,
        "max_depth": max_depth.astype(float),
        "subsample": subsample,
        "n_estimators": 50.0 * rng.integers(1, 11, n),
        "booster": booster.astype(float),
        "dart_rate": np.where(booster == 1, rng.uniform(0.0, 0.5, n), np.nan),
    }
    objective = (
        (log_lr + 2.0) ** 2
        + 0.05 * (max_depth - 6) ** 2
        + 0.2 * (1.0 - subsample)
        + _BOOSTER_PENALTY[booster]
        + rng.normal(0.0, 0.01, n)
        + value_offset
    )
    start_us = (np.arange(n) * 0.5 + rng.uniform(0.0, 0.4, n)) * 1e6
    end_us = start_us + rng.uniform(0.5, 5.0, n) * 1e6
    base = np.datetime64(t0, "us")
    return _Sample(
        states=list(states),
        params={name: values.tolist() for name, values in params.items()},
        objective=objective.tolist(),
        start=(base + start_us.astype("timedelta64[us]")).astype(str).tolist(),
        complete=(base + end_us.astype("timedelta64[us]")).astype(str).tolist(),
    )


def _escape(value: str) -> str:
    """A field of PostgreSQL's COPY text format."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _json(value: Any) -> str:
    return _escape(json.dumps(value))


def _lines(
    table: str, ids: list[int], first_number: int, study_id: int, s: _Sample, fail_reason: str
) -> list[str]:
    """The COPY lines of ``table`` (one list comprehension per kind of row: this is the hot
    loop). Rows of one trial keep Optuna's order: params by ``param_id`` in insertion order."""
    rows = list(zip(range(len(ids)), ids, s.states, strict=True))
    ran = [(i, tid) for i, tid, state in rows if state != "WAITING"]
    if table == "trials":
        return [
            f"{tid}\t{first_number + i}\t{study_id}\t{state}\t"
            + (s.start[i] if state != "WAITING" else "\\N")
            + "\t"
            + (s.complete[i] if state not in ("WAITING", "RUNNING") else "\\N")
            + "\n"
            for i, tid, state in rows
        ]
    if table == "trial_params":
        dist_json = {name: _escape(distribution_to_json(d)) for name, d in SEARCH_SPACE.items()}
        by_trial = [
            [
                f"{tid}\t{name}\t{s.params[name][i]!r}\t{dist_json[name]}\n"
                for name in SEARCH_SPACE
                if s.params[name][i] == s.params[name][i]  # NaN: an unused conditional param
            ]
            for i, tid in ran
        ]
        return [line for lines in by_trial for line in lines]
    if table == "trial_user_attributes":
        workers = [_json(f"worker-{k}") for k in range(_N_WORKERS)]
        host, cpu, cuda = _json("host-a"), _json("cpu"), _json("cuda")
        cpu_pool, cuda_pool = _json("cpu-pool"), _json("cuda-pool")
        return [
            f"{tid}\tworker\t{workers[i % _N_WORKERS]}\n{tid}\thost\t{host}\n"
            + (
                f"{tid}\tpool\t{cuda_pool}\n{tid}\tdevice\t{cuda}\n"
                if i % 10 < 3  # 30 % of the trials ran on a GPU
                else f"{tid}\tpool\t{cpu_pool}\n{tid}\tdevice\t{cpu}\n"
            )
            for i, tid in ran
        ]
    if table == "trial_values":  # a PRUNED trial's value is its last intermediate value
        return [
            f"{tid}\t0\t{s.objective[i] + (1.0 if state == 'PRUNED' else 0.0)!r}\tFINITE\n"
            for i, tid, state in rows
            if state in ("COMPLETE", "PRUNED")
        ]
    if table == "trial_intermediate_values":
        return [
            f"{tid}\t0\t{s.objective[i] + 1.5!r}\tFINITE\n"
            f"{tid}\t1\t{s.objective[i] + 1.0!r}\tFINITE\n"
            for i, tid, state in rows
            if state == "PRUNED"
        ]
    assert table == "trial_system_attributes"
    reason = _json(fail_reason)
    return [
        f"{tid}\tfail_reason\t{reason}\n"
        if state == "FAIL"
        else f"{tid}\tfixed_params\t"
        + _json({"lr": s.params["lr"][i], "max_depth": int(s.params["max_depth"][i])})
        + "\n"
        for i, tid, state in rows
        if state in ("FAIL", "WAITING")
    ]


def _chunks(lines: list[str]) -> Iterator[str]:
    for start in range(0, len(lines), _CHUNK_ROWS):
        yield "".join(lines[start : start + _CHUNK_ROWS])


def _may_skip_fk_checks(pg: psycopg.Connection[Any]) -> bool:
    sql = "SELECT has_parameter_privilege(current_user, 'session_replication_role', 'SET')"
    row = pg.execute(sql).fetchone()
    return bool(row and row[0])


def generate_study(
    storage: optuna.storages.RDBStorage,
    study_name: str,
    n_trials: int,
    *,
    direction: Literal["minimize", "maximize"] = "minimize",
    seed: int = 0,
    n_running: int = 3,
    n_waiting: int = 2,
    sampler: str = "tpe",
    fail_reason: str = "ValueError: synthetic failure",
    started_at: datetime | None = None,
    value_offset: float = 0.0,
    append: bool = False,
) -> GeneratedStudy:
    """Create ``study_name`` and bulk-load ``n_trials`` trials into it (see the module doc).

    About 89 % of the trials are COMPLETE, 7 % PRUNED, 4 % FAIL; the last ``n_waiting`` are
    WAITING and the ``n_running`` before them RUNNING. Values are continuous, so no two trials
    tie. Trial i starts ``0.5 i`` seconds after ``started_at`` (default: long enough ago that
    the last one started a minute ago) and runs 0.5 to 5 s; 30 % of the trials ran on cuda.
    Values lie in about [0, 7] plus ``value_offset``. ``append=True`` adds the trials to an
    existing study instead (numbers go on from its last trial).
    """
    if n_trials < n_running + n_waiting:
        raise ValueError(
            f"`n_trials >= n_running + n_waiting` must hold, but got n_trials={n_trials}, "
            f"n_running={n_running}, n_waiting={n_waiting}"
        )
    if append:
        study = optuna.load_study(study_name=study_name, storage=storage)
    else:
        study = optuna.create_study(study_name=study_name, storage=storage, direction=direction)
        for key, value in {
            "hpo.sampler": sampler,
            "hpo.n_trials": n_trials,
            "hpo.spec_hash": f"synthetic-{seed}",
            "hpo.spec_name": "synthetic",
        }.items():
            study.set_user_attr(key, value)
    study_id = study._study_id
    if started_at is None:
        started_at = datetime.now(UTC) - timedelta(seconds=0.5 * n_trials + 60)
    t0 = started_at.astimezone(UTC).replace(tzinfo=None)
    sample = _draw(n_trials, n_running, n_waiting, seed, t0, value_offset)

    with psycopg.connect(libpq_url(str(storage.url))) as pg:  # one transaction for the lot
        row = pg.execute("SELECT count(*) FROM trials WHERE study_id = %s", (study_id,)).fetchone()
        first_number = int(row[0]) if row else 0
        ids = sorted(
            int(r[0])
            for r in pg.execute(
                "SELECT nextval('trials_trial_id_seq') FROM generate_series(1, %s)", (n_trials,)
            )
        )
        if _may_skip_fk_checks(pg):
            # As `pg_restore --disable-triggers` does: per-row foreign-key checks are most of
            # the load time, and every row references a trial of this very transaction.
            # SET LOCAL ends with the transaction.
            pg.execute("SET LOCAL session_replication_role = replica")
        with pg.cursor() as cur:
            for table, columns in _COLUMNS.items():
                lines = _lines(table, ids, first_number, study_id, sample, fail_reason)
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for chunk in _chunks(lines):  # streamed: the server works as we format
                        copy.write(chunk)
        pg.commit()
        pg.autocommit = True  # fresh statistics, so query plans match a settled store
        pg.execute("ANALYZE trials, trial_values, trial_params, trial_user_attributes")
    states: dict[str, int] = {}
    for state in sample.states:
        states[state] = states.get(state, 0) + 1
    return GeneratedStudy(
        study_name=study_name,
        study_id=study_id,
        direction=direction,
        n_trials=n_trials,
        states=states,
    )
