"""The trial data a comparison report needs, read from Optuna's tables with one SQL query
(three for several objectives).

A :class:`RunTrace` is one study's finished trials in the order they finished (the order in
which the budget was spent): each trial's value (None when pruned), when it finished relative to
the study's first trial start, and how long it ran. Failed trials do not spend the budget (their
slot is given back) but do use compute, so they count in ``compute_s`` only.

For a study of several objectives (``objectives=n``), two more queries read every objective's
value and the constraint values Optuna keeps in system attributes, and the trace also holds each
finished trial's point (None when it was pruned or infeasible): what
:mod:`hpo.compare.hypervolume` turns into hypervolume after each finished trial.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import optuna
from pydantic import BaseModel, ConfigDict
from sqlalchemy import bindparam, text

from hpo.objectives_spec import CONSTRAINTS_KEY
from hpo.pareto import feasible

_TRIALS_SQL = text(
    """
    SELECT s.study_name, t.state, v.value, t.datetime_start, t.datetime_complete, t.trial_id
    FROM studies s
    JOIN trials t ON t.study_id = s.study_id
    LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0
    WHERE s.study_name IN :names AND t.state IN ('COMPLETE', 'PRUNED', 'FAIL')
      AND t.datetime_start IS NOT NULL AND t.datetime_complete IS NOT NULL
    ORDER BY s.study_name, t.datetime_complete, t.number
    """
).bindparams(bindparam("names", expanding=True))

# Every objective's value of the COMPLETE trials (several objectives only).
_VALUES_SQL = text(
    """
    SELECT v.trial_id, v.objective, v.value
    FROM studies s
    JOIN trials t ON t.study_id = s.study_id
    JOIN trial_values v ON v.trial_id = t.trial_id
    WHERE s.study_name IN :names AND t.state = 'COMPLETE'
    """
).bindparams(bindparam("names", expanding=True))

# Constraint values, as Optuna keeps them: ``constraints:<name>`` (Trial.set_constraint, what
# the trial runner writes) or ``constraints`` (a list: the older format).
_CONSTRAINTS_SQL = text(
    """
    SELECT a.trial_id, a.key, a.value_json
    FROM studies s
    JOIN trials t ON t.study_id = s.study_id
    JOIN trial_system_attributes a ON a.trial_id = t.trial_id
    WHERE s.study_name IN :names AND t.state = 'COMPLETE'
      AND (a.key = :key OR a.key LIKE :prefix)
    """
).bindparams(bindparam("names", expanding=True))

_Row = tuple[str, float | None, datetime, datetime, int]


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
    #: Several objectives: per finished trial, its values when it COMPLETEd feasible (every
    #: constraint value <= 0), else None. None for a study of one objective.
    points: tuple[tuple[float, ...] | None, ...] | None = None


def load_traces(
    storage: optuna.storages.RDBStorage,
    members: Sequence[tuple[str, int, str]],
    *,
    objectives: int = 1,
) -> list[RunTrace]:
    """Traces of ``members`` given as (sampler, seed, study name); a study with no finished
    trial yields an empty trace. With ``objectives`` > 1 the traces hold the trials' points."""
    names = [m[2] for m in members]
    rows: dict[str, list[_Row]] = {n: [] for n in names}
    values: dict[int, dict[int, float | None]] = {}
    constraints: dict[int, list[float]] = {}
    if names:
        with storage.engine.connect() as conn:
            for study, state, value, start, end, trial_id in conn.execute(
                _TRIALS_SQL, {"names": names}
            ):
                rows[study].append((state, value, start, end, trial_id))
            if objectives > 1:
                for trial_id, objective, value in conn.execute(_VALUES_SQL, {"names": names}):
                    values.setdefault(trial_id, {})[objective] = value
                params = {"names": names, "key": CONSTRAINTS_KEY, "prefix": f"{CONSTRAINTS_KEY}:%"}
                for trial_id, key, raw in conn.execute(_CONSTRAINTS_SQL, params):
                    loaded = json.loads(raw)
                    found = loaded if key == CONSTRAINTS_KEY else [loaded]
                    constraints.setdefault(trial_id, []).extend(float(v) for v in found)
    traces = [_trace(sampler, seed, name, rows[name]) for sampler, seed, name in members]
    if objectives <= 1:
        return traces
    return [
        trace.model_copy(
            update={"points": _points(rows[trace.study_name], values, constraints, objectives)}
        )
        for trace in traces
    ]


def _points(
    rows: list[_Row],
    values: dict[int, dict[int, float | None]],
    constraints: dict[int, list[float]],
    objectives: int,
) -> tuple[tuple[float, ...] | None, ...]:
    """Per finished trial (the order of ``values``), its point when it COMPLETEd with every
    objective's value and is feasible, else None."""
    out: list[tuple[float, ...] | None] = []
    for state, _, _, _, trial_id in rows:
        if state == "FAIL":
            continue
        own = values.get(trial_id, {})
        # An infinite value is stored as NULL: such a trial has no point to measure.
        point = tuple(float(v) for i in range(objectives) if (v := own.get(i)) is not None)
        ok = state == "COMPLETE" and len(point) == objectives
        out.append(point if ok and feasible(constraints.get(trial_id, [])) else None)
    return tuple(out)


def _trace(
    sampler: str,
    seed: int,
    study_name: str,
    rows: list[_Row],
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
    first = min(r[2] for r in rows)
    last = max(r[3] for r in rows)
    finished = [r for r in rows if r[0] != "FAIL"]
    return RunTrace(
        sampler=sampler,
        seed=seed,
        study_name=study_name,
        values=tuple(
            float(value) if state == "COMPLETE" and value is not None else None
            for state, value, *_ in finished
        ),
        finished_at_s=tuple((r[3] - first).total_seconds() for r in finished),
        compute_s=sum((r[3] - r[2]).total_seconds() for r in rows),
        wall_s=(last - first).total_seconds(),
        failed=len(rows) - len(finished),
    )
