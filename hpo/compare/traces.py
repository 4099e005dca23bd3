"""The trial data a comparison report needs, read from Optuna's tables with one SQL query.

A :class:`RunTrace` is one study's finished trials in the order they finished (the order in
which the budget was spent): each trial's value (None when pruned), when it finished relative to
the study's first trial start, and how long it ran. Failed trials do not spend the budget (their
slot is given back) but do use compute, so they count in ``compute_s`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import optuna
from pydantic import BaseModel, ConfigDict
from sqlalchemy import bindparam, text

_TRIALS_SQL = text(
    """
    SELECT s.study_name, t.state, v.value, t.datetime_start, t.datetime_complete
    FROM studies s
    JOIN trials t ON t.study_id = s.study_id
    LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0
    WHERE s.study_name IN :names AND t.state IN ('COMPLETE', 'PRUNED', 'FAIL')
      AND t.datetime_start IS NOT NULL AND t.datetime_complete IS NOT NULL
    ORDER BY s.study_name, t.datetime_complete, t.number
    """
).bindparams(bindparam("names", expanding=True))


class RunTrace(BaseModel):
    """One study's finished trials, in the order they finished."""

    model_config = ConfigDict(frozen=True)

    sampler: str
    seed: int
    study_name: str
    #: Per finished (COMPLETE or PRUNED) trial: its value, None when pruned.
    values: tuple[float | None, ...]
    #: Per finished trial: seconds from the study's first trial start to its completion.
    finished_at_s: tuple[float, ...]
    #: Sum of the durations of every trial, failed ones included.
    compute_s: float
    #: First trial start to last trial end.
    wall_s: float
    failed: int


def load_traces(
    storage: optuna.storages.RDBStorage, members: Sequence[tuple[str, int, str]]
) -> list[RunTrace]:
    """Traces of ``members`` given as (sampler, seed, study name); a study with no finished
    trial yields an empty trace."""
    names = [m[2] for m in members]
    rows: dict[str, list[tuple[str, float | None, datetime, datetime]]] = {n: [] for n in names}
    if names:
        with storage.engine.connect() as conn:
            for study, state, value, start, end in conn.execute(_TRIALS_SQL, {"names": names}):
                rows[study].append((state, value, start, end))
    return [_trace(sampler, seed, name, rows[name]) for sampler, seed, name in members]


def _trace(
    sampler: str,
    seed: int,
    study_name: str,
    rows: list[tuple[str, float | None, datetime, datetime]],
) -> RunTrace:
    if not rows:
        return RunTrace(
            sampler=sampler,
            seed=seed,
            study_name=study_name,
            values=(),
            finished_at_s=(),
            compute_s=0.0,
            wall_s=0.0,
            failed=0,
        )
    first = min(start for _, _, start, _ in rows)
    last = max(end for _, _, _, end in rows)
    finished = [r for r in rows if r[0] != "FAIL"]
    return RunTrace(
        sampler=sampler,
        seed=seed,
        study_name=study_name,
        values=tuple(
            float(value) if state == "COMPLETE" and value is not None else None
            for state, value, _, _ in finished
        ),
        finished_at_s=tuple((end - first).total_seconds() for _, _, _, end in finished),
        compute_s=sum((end - start).total_seconds() for _, _, start, end in rows),
        wall_s=(last - first).total_seconds(),
        failed=len(rows) - len(finished),
    )
