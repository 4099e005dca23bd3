"""A study at a glance: trial counts by state and the best trial, read with a few SQL queries."""

from __future__ import annotations

import json
from typing import Any

import optuna
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from hpo.claims import count_trials
from hpo.study_setup import study_id_of


class StudySummary(BaseModel):
    """Frozen view of one study."""

    model_config = ConfigDict(frozen=True)

    study_name: str
    direction: str
    #: What the value measures (the spec's metric, e.g. ``roc_auc``); None: a plain objective.
    metric: str | None = None
    sampler: str | None
    n_trials_budget: int | None
    complete: int
    pruned: int
    failed: int
    running: int
    waiting: int
    best_trial_number: int | None
    best_value: float | None
    best_params: dict[str, Any]

    @property
    def finished(self) -> int:
        return self.complete + self.pruned


def summarize_study(study_name: str, storage: optuna.storages.RDBStorage) -> StudySummary:
    study_id = study_id_of(storage, study_name)
    counts = count_trials(storage, study_id)
    directions = storage.get_study_directions(study_id)
    attrs = storage.get_study_user_attrs(study_id)
    best: optuna.trial.FrozenTrial | None
    try:
        best = storage.get_best_trial(study_id)
    except ValueError:  # no COMPLETE trial yet
        best = None
    budget = attrs.get("hpo.n_trials")
    return StudySummary(
        study_name=study_name,
        direction=directions[0].name.lower(),
        metric=attrs.get("hpo.metric"),
        sampler=attrs.get("hpo.sampler"),
        n_trials_budget=int(budget) if budget is not None else None,
        complete=counts.complete,
        pruned=counts.pruned,
        failed=counts.fail,
        running=counts.running,
        waiting=counts.waiting,
        best_trial_number=best.number if best else None,
        best_value=best.value if best else None,
        best_params=dict(best.params) if best else {},
    )


class WorkerTally(BaseModel):
    """Trials of one study that one worker ran, by final state, with where it ran."""

    model_config = ConfigDict(frozen=True)

    worker: str
    pool: str | None
    host: str | None
    device: str | None
    complete: int
    pruned: int
    failed: int


_BY_WORKER_SQL = text(
    """
    SELECT w.value_json AS worker, p.value_json AS pool, h.value_json AS host,
           d.value_json AS device, t.state, count(*) AS n
    FROM trials t
    JOIN trial_user_attributes w ON w.trial_id = t.trial_id AND w.key = 'worker'
    LEFT JOIN trial_user_attributes p ON p.trial_id = t.trial_id AND p.key = 'pool'
    LEFT JOIN trial_user_attributes h ON h.trial_id = t.trial_id AND h.key = 'host'
    LEFT JOIN trial_user_attributes d ON d.trial_id = t.trial_id AND d.key = 'device'
    WHERE t.study_id = :sid
    GROUP BY 1, 2, 3, 4, 5
    """
)


def trials_by_worker(storage: optuna.storages.RDBStorage, study_id: int) -> list[WorkerTally]:
    """One row per worker that ran trials of the study (one SQL query)."""
    acc: dict[tuple[str, str | None, str | None, str | None], dict[str, int]] = {}
    with storage.engine.connect() as conn:
        for worker, pool, host, device, state, n in conn.execute(_BY_WORKER_SQL, {"sid": study_id}):
            key = (
                json.loads(worker),
                *(json.loads(v) if v else None for v in (pool, host, device)),
            )
            acc.setdefault(key, {})[state] = int(n)
    return [
        WorkerTally(
            worker=k[0],
            pool=k[1],
            host=k[2],
            device=k[3],
            complete=v.get("COMPLETE", 0),
            pruned=v.get("PRUNED", 0),
            failed=v.get("FAIL", 0),
        )
        for k, v in sorted(acc.items())
    ]
