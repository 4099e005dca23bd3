"""Planning a comparison: names, fair budgets for grid, and refusals before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from hpo.compare.plan import even_pick, plan_comparison, seed_list, thin_counts
from hpo.errors import ConfigError, UnknownNameError
from hpo.search_spaces.loader import load_spec, parse_spec
from hpo.search_spaces.schema import SearchSpaceSpec

OBJECTIVE = "tests.objectives_fixture:quadratic"


def _spec(params: dict[str, Any], **extra: Any) -> SearchSpaceSpec:
    return parse_spec({"name": "p", "objective": OBJECTIVE, "params": params, **extra})


def test_one_study_per_sampler_and_seed() -> None:
    plan = plan_comparison(load_spec("branin"), ["random", "tpe"], 30, 3, group="g1")
    assert [(m.sampler, m.seed, m.study_name) for m in plan.members] == [
        ("random", 0, "g1-random-s0"),
        ("random", 1, "g1-random-s1"),
        ("random", 2, "g1-random-s2"),
        ("tpe", 0, "g1-tpe-s0"),
        ("tpe", 1, "g1-tpe-s1"),
        ("tpe", 2, "g1-tpe-s2"),
    ]
    assert {m.budget for m in plan.members} == {30}
    assert all(m.plan.spec == plan.spec and m.plan.seed == m.seed for m in plan.members)
    assert plan.seeds == (0, 1, 2)


def test_default_group_name_and_explicit_seeds() -> None:
    plan = plan_comparison(load_spec("branin"), ["random"], 5, [7, 11])
    assert plan.group.startswith("branin-cmp-")
    assert [m.study_name for m in plan.members] == [
        f"{plan.group}-random-s7",
        f"{plan.group}-random-s11",
    ]


def test_grid_smaller_than_the_budget_is_capped_and_runs_once() -> None:
    spec = _spec(
        {"x": {"type": "int", "low": 0, "high": 2}, "y": {"type": "int", "low": 0, "high": 1}}
    )
    plan = plan_comparison(spec, ["grid", "random"], 10, 4, group="g2")
    grid = plan.members_of("grid")
    assert len(grid) == 1  # deterministic: one study stands for every seed
    assert grid[0].budget == 6 and grid[0].stands_for == (0, 1, 2, 3)
    assert grid[0].note is not None
    assert "capped at 6 trials, below the budget of 10" in grid[0].note
    assert "stands for all 4 seeds" in grid[0].note
    assert [m.budget for m in plan.members_of("random")] == [10] * 4


def test_grid_larger_than_the_budget_is_thinned_evenly() -> None:
    plan = plan_comparison(load_spec("branin"), ["grid"], 60, 1, group="g3")
    (grid,) = plan.members
    assert grid.budget == 56  # 8 x 7 <= 60 < 8 x 8
    assert grid.plan.spec.grid is not None
    x0, x1 = grid.plan.spec.grid["x0"], grid.plan.spec.grid["x1"]
    assert {len(x0), len(x1)} == {7, 8}
    assert x0[0] == -5 and x0[-1] == 10 and x1[0] == 0 and x1[-1] == 15  # ends kept
    assert len(grid.plan.spec.grid_points()) == 56
    assert grid.note is not None and "thinned evenly to 56 points" in grid.note
    assert grid.plan.spec.params == plan.spec.params  # same space, only the grid is smaller


def test_thinning_helpers() -> None:
    assert thin_counts([16, 16], 60) in ([8, 7], [7, 8])
    assert thin_counts([5] * 6, 60) == [3, 2, 2, 2, 2, 1]
    assert thin_counts([2, 50], 10) == [2, 5]
    assert thin_counts([3], 100) == [3]
    assert even_pick(list(range(11)), 3) == [0, 5, 10]
    assert even_pick(list(range(11)), 1) == [5]
    assert even_pick([1, 2], 5) == [1, 2]


@pytest.mark.parametrize("sampler", ["cmaes", "qmc"])
def test_numeric_only_samplers_are_refused_on_a_categorical_space(sampler: str) -> None:
    spec = _spec({"c": {"type": "categorical", "choices": ["a", "b"]}})
    with pytest.raises(ConfigError) as info:
        plan_comparison(spec, ["random", sampler], 10, 2, group="g4", source="cat.yaml")
    message = str(info.value)
    assert message.startswith(f"cat.yaml: --samplers {sampler}: ")
    assert f"sampler {sampler!r} needs at least one int or float param" in message
    assert "every param of 'p' is categorical" in message
    assert "fix: use tpe, random or grid" in message


def test_categorical_fallback_is_noted() -> None:
    spec = _spec(
        {
            "x": {"type": "float", "low": 0, "high": 1},
            "c": {"type": "categorical", "choices": [1, 2]},
        }
    )
    plan = plan_comparison(spec, ["qmc"], 5, 1, group="g5")
    assert (
        plan.members[0].note
        == "qmc samples the categorical param(s) c at random (its independent fallback)"
    )


@pytest.mark.parametrize(
    ("samplers", "n_trials", "seeds", "group", "error", "expected"),
    [
        (["annealing"], 10, 2, "g", UnknownNameError, "unknown sampler 'annealing'"),
        (["tpe", "tpe"], 10, 2, "g", ConfigError, "must not repeat a sampler"),
        ([], 10, 2, "g", ConfigError, "at least one sampler"),
        (["tpe"], 0, 2, "g", ConfigError, "--n-trials must be between 1"),
        (["tpe"], 10, 0, "g", ConfigError, "--seeds must be at least 1"),
        (["tpe"], 10, [1, 1], "g", ConfigError, "seeds must not repeat"),
        (["tpe"], 10, 2, "no spaces", ConfigError, "comparison group name"),
    ],
)
def test_bad_requests_are_refused(
    samplers: list[str],
    n_trials: int,
    seeds: Any,
    group: str,
    error: type[Exception],
    expected: str,
) -> None:
    with pytest.raises(error, match=expected):
        plan_comparison(load_spec("branin"), samplers, n_trials, seeds, group=group)


def test_grid_needs_a_grid() -> None:
    spec = _spec({"x": {"type": "float", "low": 0, "high": 1}})
    with pytest.raises(ConfigError, match="sampler 'grid' cannot build a grid"):
        plan_comparison(spec, ["random", "grid"], 10, 1, group="g6")


def test_seed_list() -> None:
    assert seed_list(3) == (0, 1, 2)
    assert seed_list([5, 2]) == (5, 2)
