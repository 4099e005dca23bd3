"""A study at a glance: trial counts by state and the best trial, read with a few SQL queries."""

from __future__ import annotations

from typing import Any

import optuna
from pydantic import BaseModel, ConfigDict

from hpo.claims import StudyCounts, count_trials
from hpo.errors import StoreStateError


class StudySummary(BaseModel):
    """Frozen view of one study."""

    model_config = ConfigDict(frozen=True)

    study_name: str
    direction: str
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


def study_id_of(storage: optuna.storages.RDBStorage, study_name: str) -> int:
    try:
        return storage.get_study_id_from_name(study_name)
    except KeyError:
        raise StoreStateError(
            f"no study named {study_name!r} in the study store",
            fix="list the studies with `hpo studies list`",
        ) from None


def summarize_study(study_name: str, storage: optuna.storages.RDBStorage) -> StudySummary:
    study_id = study_id_of(storage, study_name)
    counts: StudyCounts = count_trials(storage, study_id)
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
        sampler=attrs.get("hpo.sampler"),
        n_trials_budget=int(budget) if budget is not None else None,
        complete=counts.complete,
        pruned=counts.pruned,
        failed=counts.failed,
        running=counts.running,
        waiting=counts.waiting,
        best_trial_number=best.number if best else None,
        best_value=best.value if best else None,
        best_params=dict(best.params) if best else {},
    )
