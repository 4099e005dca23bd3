"""Parallel workers draw from distinct streams (issue 11): W = 4 ``run_worker`` threads on the
real PostgreSQL, every sampler, the bundled branin space with an objective that sleeps so the
workers overlap. Plain functions, no Prefect."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import optuna
import pytest
from scipy.stats import qmc  # type: ignore[import-untyped]

from hpo.sampler_streams import TrialSeededSampler, trial_seed
from hpo.search_spaces.loader import load_spec, parse_spec
from hpo.store import get_storage
from hpo.study_setup import StudyPlan
from tests.support import run_workers

SLEEPY_BRANIN = "tests.objectives_fixture:sleepy_branin"


def _branin_plan(study_name: str, sampler: str, n_trials: int, seed: int = 3) -> StudyPlan:
    spec = load_spec("branin").model_copy(update={"objective": SLEEPY_BRANIN})
    return StudyPlan(
        study_name=study_name, spec=spec, sampler=sampler, n_trials=n_trials, seed=seed
    )


def _run(plan: StudyPlan, workers: int) -> list[optuna.trial.FrozenTrial]:
    run_workers(plan, workers)
    study = optuna.load_study(study_name=plan.study_name, storage=get_storage())
    return study.get_trials(deepcopy=False)


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def _workers(trials: list[optuna.trial.FrozenTrial]) -> set[str]:
    return {str(t.user_attrs["worker"]) for t in trials}


def test_trial_seeds_are_distinct_and_stable() -> None:
    seeds = [trial_seed(7, n) for n in range(2000)]
    assert len(set(seeds)) == 2000
    assert seeds[:3] == [trial_seed(7, 0), trial_seed(7, 1), trial_seed(7, 2)]
    assert trial_seed(8, 0) != trial_seed(7, 0)


@pytest.mark.parametrize(
    ("sampler", "n_trials"),
    [("random", 16), ("tpe", 16), ("gp", 14), ("cmaes", 16), ("qmc", 16), ("grid", 16)],
)
def test_four_workers_never_repeat_a_point(
    pg_url: str, study_name: str, sampler: str, n_trials: int
) -> None:
    """Before the fix, 4 workers seeded alike ran each point 4 times (random: 4 distinct points
    in 16 trials). Now every finished trial of a continuous space has its own params."""
    trials = _run(_branin_plan(study_name, sampler, n_trials), workers=4)
    assert Counter(t.state.name for t in trials) == Counter({"COMPLETE": n_trials})
    repeats = Counter(_key(t.params) for t in trials)
    assert len(repeats) == n_trials, {k: n for k, n in repeats.items() if n > 1}
    assert len(_workers(trials)) >= 2  # the workers really ran side by side


def test_random_draws_the_same_points_at_any_worker_count(pg_url: str, study_name: str) -> None:
    """Trial n draws from stream n: on a small integer/categorical space (repeats are expected)
    4 workers make exactly the repeats 1 worker makes, no more."""
    space = {
        "a": {"type": "int", "low": 0, "high": 4},
        "b": {"type": "categorical", "choices": ["x", "y"]},
    }
    spec = parse_spec({"name": "d", "objective": "tests.objectives_fixture:sleepy_discrete",
                       "params": space})  # fmt: skip
    points = {}
    for workers in (1, 4):
        plan = StudyPlan(
            study_name=f"{study_name}-w{workers}", spec=spec, sampler="random", n_trials=12, seed=5
        )
        trials = _run(plan, workers)
        points[workers] = sorted(_key(t.params) for t in trials)
    assert points[1] == points[4]
    assert len(set(points[1])) < 12  # 12 draws from 10 points: the space does force repeats


def test_qmc_workers_share_one_sequence(pg_url: str, study_name: str) -> None:
    """Every QMC trial is the point of one scrambled Sobol sequence (the study seed) at its trial
    number: 4 workers cover the space as one sequence, not 4 copies, and take no id twice."""
    plan = _branin_plan(study_name, "qmc", 16, seed=11)
    trials = _run(plan, workers=4)
    sequence = qmc.Sobol(2, seed=11, scramble=True).random(32)
    low, high = np.array([-5.0, 0.0]), np.array([10.0, 15.0])
    on_sequence = [
        t
        for t in trials
        if np.allclose([t.params["x0"], t.params["x1"]], low + sequence[t.number] * (high - low))
    ]
    # From trial 0 on: the spec's space is given, nothing falls back to the independent sampler.
    assert len(on_sequence) == 16, [t.number for t in trials if t not in on_sequence]


class _StuckSampler(optuna.samplers.RandomSampler):
    """Suggests the same relative params every trial, as GPSampler does with its incumbent once
    it has converged on a deterministic objective."""

    def infer_relative_search_space(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial
    ) -> dict[str, optuna.distributions.BaseDistribution]:
        return {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}

    def sample_relative(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial, search_space: dict[str, Any]
    ) -> dict[str, Any]:
        return {"x": 0.25}


def test_a_suggestion_that_repeats_a_trial_is_drawn_at_random(pg_url: str, study_name: str) -> None:
    sampler = TrialSeededSampler(lambda seed: _StuckSampler(seed=seed), seed=2)
    study = optuna.create_study(study_name=study_name, storage=get_storage(), sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=6)
    xs = [t.params["x"] for t in study.trials]
    assert xs[0] == 0.25 and len(set(xs)) == 6
    # Trial n's random draw comes from trial n's stream.
    assert xs[1] == optuna.samplers.RandomSampler(seed=trial_seed(2, 1)).sample_independent(
        study, study.trials[1], "x", optuna.distributions.FloatDistribution(0.0, 1.0)
    )
    assert not sampler._by_trial and not sampler._redrawn  # nothing kept after the trials
