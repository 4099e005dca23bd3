"""The Pareto front of a study of several objectives, as the query layer returns it.

Like :mod:`hpo.query.importance`, this loads the study's COMPLETE trials into memory (through
Optuna's own read path, which never writes): the non-dominated set needs every point. The front
itself is :func:`hpo.pareto.pareto_front`; feasibility is the trial's stored constraint values
(``FrozenTrial.constraints``, <= 0 on every one), so infeasible trials are left out unless
``feasible_only=False``.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, ConfigDict, Field

from hpo.pareto import is_feasible, pareto_front
from hpo.query.meta import StudyMeta
from hpo.query.models import TrialRecord
from hpo.search_spaces.schema import Direction


class FrontTrial(TrialRecord):
    """A trial on the front, with its constraint values (<= 0: satisfied) and feasibility."""

    constraints: dict[str, float] = Field(
        default_factory=dict, description="Constraint -> value (<= 0: satisfied)."
    )
    feasible: bool = True


class ParetoFront(BaseModel):
    """A study's non-dominated COMPLETE trials, by trial number."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="strings")

    study_name: str
    objectives: tuple[str, ...] = Field(description="Metric names, in the values' order.")
    directions: tuple[str, ...]
    constraints: tuple[str, ...] = Field(description="The spec's constraints, as text.")
    feasible_only: bool
    n_complete: int
    n_feasible: int
    trials: tuple[FrontTrial, ...]


def study_front(
    storage: optuna.storages.RDBStorage, meta: StudyMeta, *, feasible_only: bool = True
) -> ParetoFront:
    study = optuna.Study(study_name=meta.study_name, storage=storage)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    directions: list[Direction] = [
        "maximize" if d.upper() == "MAXIMIZE" else "minimize" for d in meta.directions
    ]
    spec: dict[str, Any] = study.user_attrs.get("hpo.spec") or {}
    constraints = tuple(
        f"{c['metric']} {c['op']} {float(c['value']):g}" for c in spec.get("constraints") or ()
    )
    names = study.metric_names or [f"objective {i}" for i in range(len(directions))]
    front = pareto_front(done, directions, feasible_only=feasible_only)
    return ParetoFront(
        study_name=meta.study_name,
        objectives=tuple(names),
        directions=tuple(directions),
        constraints=constraints,
        feasible_only=feasible_only,
        n_complete=len(done),
        n_feasible=sum(is_feasible(t) for t in done),
        trials=tuple(_record(t) for t in front),
    )


def _record(trial: FrozenTrial) -> FrontTrial:
    start, end = trial.datetime_start, trial.datetime_complete
    values = tuple(float(v) for v in trial.values) if trial.values else None
    return FrontTrial(
        number=trial.number,
        state="COMPLETE",
        value=values[0] if values else None,
        values=values,
        params=dict(trial.params),
        user_attrs=dict(trial.user_attrs),
        datetime_start=start.replace(tzinfo=UTC) if start else None,
        datetime_complete=end.replace(tzinfo=UTC) if end else None,
        duration_s=(end - start).total_seconds() if start and end else None,
        constraints={k: float(v) for k, v in trial.constraints.items()},
        feasible=is_feasible(trial),
    )
