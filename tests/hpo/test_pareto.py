"""Pareto fronts and hypervolume, pure: what a front is, which trials are feasible, known areas."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpo.pareto import hypervolume, hypervolume_regret, is_feasible, non_dominated, pareto_front
from hpo.workers.objectives.pareto_problems import PARETO_PROBLEMS, evaluate_zdt, true_front


def _trial(
    number: int, values: list[float], constraints: list[float] | None = None
) -> optuna.trial.FrozenTrial:
    trial = create_trial(
        values=values,
        state=TrialState.COMPLETE,
        system_attrs={f"constraints:c{i}": v for i, v in enumerate(constraints or [])},
    )
    trial.number = number
    return trial


def test_non_dominated_minimize_and_maximize() -> None:
    points = [[1, 5], [2, 2], [5, 1], [3, 3], [2, 2], [6, 6]]
    assert non_dominated(points, ["minimize", "minimize"]) == [0, 1, 2, 4]  # ties both kept
    assert non_dominated(points, ["maximize", "maximize"]) == [5]
    # Max accuracy, min size: (0.9, 10) beats (0.8, 20); (0.95, 50) trades off.
    mixed = [[0.9, 10], [0.8, 20], [0.95, 50]]
    assert non_dominated(mixed, ["maximize", "minimize"]) == [0, 2]


def test_front_leaves_out_infeasible_and_unfinished_trials() -> None:
    best_but_infeasible = _trial(0, [0.0, 0.0], constraints=[0.5])
    on_front = _trial(1, [1.0, 2.0], constraints=[0.0])  # exactly on the bound: feasible
    dominated = _trial(2, [2.0, 3.0], constraints=[-1.0])
    other = _trial(3, [2.0, 1.0])  # no constraints stored: feasible
    failed = create_trial(state=TrialState.FAIL)
    trials = [best_but_infeasible, on_front, dominated, other, failed]
    assert not is_feasible(best_but_infeasible) and is_feasible(on_front) and is_feasible(other)
    front = pareto_front(trials, ["minimize", "minimize"])
    assert [t.number for t in front] == [1, 3]
    everything = pareto_front(trials, ["minimize", "minimize"], feasible_only=False)
    assert [t.number for t in everything] == [0]


def test_hypervolume_of_known_shapes() -> None:
    assert hypervolume([[0.0, 0.0]], ["minimize", "minimize"], [1.0, 1.0]) == pytest.approx(1.0)
    # Two boxes overlapping in [0,1]x[0,1]: 2 + 2 - 1.
    two = [[0.0, 1.0], [1.0, 0.0]]
    assert hypervolume(two, ["minimize", "minimize"], [2.0, 2.0]) == pytest.approx(3.0)
    # Maximized objectives: the reference point is below.
    assert hypervolume([[2.0, 3.0]], ["maximize", "maximize"], [0.0, 0.0]) == pytest.approx(6.0)
    # A point beyond the reference adds nothing.
    assert hypervolume([[3.0, 0.0]], ["minimize", "minimize"], [2.0, 2.0]) == 0.0
    assert hypervolume([], ["minimize", "minimize"], [2.0, 2.0]) == 0.0


@pytest.mark.parametrize("name", ["zdt1", "zdt2"])
def test_zdt_true_front_has_almost_no_regret(name: str) -> None:
    front = true_front(name, n_points=2001)
    assert hypervolume_regret(name, front) == pytest.approx(0.0, abs=2e-3)
    # The closed form agrees with a fine sampling of the front.
    facts = PARETO_PROBLEMS[name]
    assert facts.optimal_hypervolume == pytest.approx(121.0 - (1 / 3 if name == "zdt1" else 2 / 3))
    # A front at g = 2 (x1.. = 1/9) is strictly worse.
    worse = [list(evaluate_zdt(name, {"x0": f1, "x1": 1 / 9}).values()) for f1, _ in front[::50]]
    assert hypervolume_regret(name, worse) > 0.1


def test_zdt_values_on_and_off_the_front() -> None:
    on = evaluate_zdt("zdt1", {f"x{i}": (0.25 if i == 0 else 0.0) for i in range(10)})
    assert on == {"f1": 0.25, "f2": pytest.approx(0.5)}
    off = evaluate_zdt("zdt2", {f"x{i}": (0.5 if i == 0 else 1.0) for i in range(10)})
    assert off["f1"] == 0.5 and off["f2"] == pytest.approx(10 * (1 - (0.5 / 10) ** 2))
    assert math.isfinite(off["f2"])
