"""Pareto fronts of studies of several objectives: feasible trials, the non-dominated set, and
hypervolume (regret on the benchmark problems with known fronts). Pure functions over Optuna's
``FrozenTrial`` and plain numbers; core layer.

A trial is feasible when every constraint value stored on it (``FrozenTrial.constraints``: what
the trial runner stored, :mod:`hpo.objectives_spec`) is <= 0; a trial without one (a spec
without constraints) is.
Trial ``a`` dominates ``b`` when it is no worse on every objective and better on one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from optuna._hypervolume import compute_hypervolume
from optuna.trial import FrozenTrial, TrialState

from hpo.search_spaces.schema import Direction
from hpo.workers.objectives.pareto_problems import pareto_problem


def feasible(constraint_values: Iterable[float]) -> bool:
    """Optuna's convention: every constraint value <= 0 (none at all: feasible)."""
    return all(float(v) <= 0.0 for v in constraint_values)


def is_feasible(trial: FrozenTrial) -> bool:
    return feasible(trial.constraints.values())


def _losses(points: Sequence[Sequence[float]], directions: Sequence[Direction]) -> np.ndarray:
    """Every objective turned into one to minimise (maximised ones negated)."""
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    array: np.ndarray = np.asarray(points, dtype=float).reshape(-1, len(directions)) * signs
    return array


def non_dominated(points: Sequence[Sequence[float]], directions: Sequence[Direction]) -> list[int]:
    """The indices of the points no other point dominates, in input order (duplicates of a
    front point are all kept)."""
    losses = _losses(points, directions)
    keep = []
    for i, p in enumerate(losses):
        no_worse = np.all(losses <= p, axis=1)
        better = np.any(losses < p, axis=1)
        if not np.any(no_worse & better):
            keep.append(i)
    return keep


def pareto_front(
    trials: Sequence[FrozenTrial],
    directions: Sequence[Direction],
    *,
    feasible_only: bool = True,
) -> list[FrozenTrial]:
    """The COMPLETE trials on the front (feasible ones only, by default), by trial number."""
    done = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.values is not None
        and len(t.values) == len(directions)
        and (is_feasible(t) or not feasible_only)
    ]
    done.sort(key=lambda t: t.number)
    front = non_dominated([list(t.values) for t in done], directions)
    return [done[i] for i in front]


def hypervolume(
    points: Sequence[Sequence[float]],
    directions: Sequence[Direction],
    reference_point: Sequence[float],
) -> float:
    """The volume the points dominate up to ``reference_point`` (given in the objectives' own
    orientation); points not better than it on every objective add nothing."""
    if not points:
        return 0.0
    losses = _losses(points, directions)
    reference = _losses([reference_point], directions)[0]
    inside = losses[np.all(losses < reference, axis=1)]
    if len(inside) == 0:
        return 0.0
    return float(compute_hypervolume(inside, reference))


def hypervolume_regret(problem: str, points: Sequence[Sequence[float]]) -> float:
    """The known front's hypervolume minus that of ``points`` (both objectives minimised),
    against the problem's reference point: 0 means the true front was found."""
    facts = pareto_problem(problem)
    directions: list[Direction] = ["minimize"] * len(facts.metrics)
    found = hypervolume(points, directions, facts.reference_point)
    return facts.optimal_hypervolume - found
