"""The sampler and pruner plug points: one registry each, by name.

A sampler factory takes the spec, the seed of the trial it suggests and the study's seed, and
returns an Optuna sampler; :func:`build_sampler` wraps it so that every trial gets a sampler of
its own stream (:mod:`hpo.sampler_streams`): parallel workers never repeat each other's draws.
``grid`` is special: the grid points are enqueued once by the coordinator (see
:func:`hpo.study_setup.enqueue_grid`) and workers claim them as WAITING trials, because Optuna's
``GridSampler`` alone repeats points when several workers run at once. Every factory checks that
it fits the space first, so a combination that cannot work (CMA-ES on a categorical-only space)
fails before anything runs.

Several objectives (``objectives:`` in the spec): ``nsga2``, ``nsga3``, ``tpe`` and ``gp`` run in
their multi-objective modes, ``random``, ``qmc`` and ``grid`` as before; ``cmaes`` optimises one
objective and is refused. Constraints (``constraints:``) need nothing here: the trial runner
stores each trial's constraint values as Optuna 5's ``Trial.set_constraint`` does, and Optuna 5's
NSGA-II/III, TPE and GP read them from the trials (``FrozenTrial.constraints``; the older
``constraints_func`` argument is deprecated since Optuna 5.0). Random, QMC and grid ignore them;
the Pareto front leaves infeasible trials out whatever the sampler.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hpo.errors import ConfigError, UnknownNameError
from hpo.sampler_streams import TrialNumberQMCSampler, TrialSeededSampler
from hpo.search_spaces.schema import CategoricalParam, FloatParam, IntParam

if TYPE_CHECKING:
    from hpo.search_spaces.schema import PrunerSpec, SearchSpaceSpec

SamplerFactory = Callable[["SearchSpaceSpec", int, int], optuna.samplers.BaseSampler]
"""``(spec, trial seed, study seed) -> sampler``: draws come from the trial seed; the study seed
is for what all workers must share (QMC's scrambling)."""


def _numeric_params(spec: SearchSpaceSpec) -> list[str]:
    return [n for n, p in spec.params.items() if p.type in ("int", "float")]


def _needs(module: str, sampler: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"sampler {sampler!r} needs the package {module!r}, which is not installed",
            fix=f"pip install {extra}",
        )


def distributions(spec: SearchSpaceSpec) -> dict[str, BaseDistribution]:
    """The Optuna distributions the trial loop suggests for ``spec``'s params
    (``hpo.workers.trial_runner.suggest_params``)."""
    out: dict[str, BaseDistribution] = {}
    for name, p in spec.params.items():
        if isinstance(p, IntParam):
            out[name] = IntDistribution(p.low, p.high, log=p.log, step=p.step)
        elif isinstance(p, FloatParam):
            out[name] = FloatDistribution(p.low, p.high, log=p.log, step=p.step)
        elif isinstance(p, CategoricalParam):
            out[name] = CategoricalDistribution(list(p.choices))
    return out


def _random(spec: SearchSpaceSpec, seed: int, study_seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def _tpe(spec: SearchSpaceSpec, seed: int, study_seed: int) -> optuna.samplers.BaseSampler:
    # Optuna 5 defaults: multivariate, constant liar (good under parallel workers).
    return optuna.samplers.TPESampler(seed=seed)


def _gp(spec: SearchSpaceSpec, seed: int, study_seed: int) -> optuna.samplers.BaseSampler:
    _needs("torch", "gp", "-e '.[torch]'  (GPSampler runs on torch)")
    return optuna.samplers.GPSampler(seed=seed)


def _nsga2(spec: SearchSpaceSpec, seed: int, study_seed: int) -> optuna.samplers.BaseSampler:
    # The trials of one generation hold their generation number in system attributes, so a
    # fresh instance per trial (sampler_streams) picks up the population from the store.
    return optuna.samplers.NSGAIISampler(seed=seed)


def _nsga3(spec: SearchSpaceSpec, seed: int, study_seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.NSGAIIISampler(seed=seed)


def _cmaes(spec: SearchSpaceSpec, seed: int, study_seed: int) -> optuna.samplers.BaseSampler:
    if spec.multi_objective:
        assert spec.objectives is not None
        raise ConfigError(
            f"sampler 'cmaes' optimises one objective, but the spec declares "
            f"{len(spec.objectives)} under `objectives`",
            fix="use nsga2, nsga3, tpe, gp or random for several objectives, or keep one objective",
        )
    if not _numeric_params(spec):
        raise ConfigError(
            f"sampler 'cmaes' needs at least one int or float param, but every param of "
            f"{spec.name!r} is categorical",
            fix="use tpe, random or grid for a categorical-only space",
        )
    _needs("cmaes", "cmaes", "cmaes")
    return optuna.samplers.CmaEsSampler(seed=seed)


def _qmc(spec: SearchSpaceSpec, seed: int, study_seed: int) -> optuna.samplers.BaseSampler:
    if not _numeric_params(spec):
        raise ConfigError(
            f"sampler 'qmc' needs at least one int or float param, but every param of "
            f"{spec.name!r} is categorical",
            fix="use tpe, random or grid for a categorical-only space",
        )
    # One scrambled sequence for the whole study (the study seed); trial n takes its point n.
    return TrialNumberQMCSampler(
        search_space=distributions(spec),
        seed=study_seed,
        scramble=True,
        independent_sampler=optuna.samplers.RandomSampler(seed=seed),
        warn_independent_sampling=False,
    )


def _grid(spec: SearchSpaceSpec, seed: int, study_seed: int) -> optuna.samplers.BaseSampler:
    try:
        spec.grid_points()
    except ValueError as exc:
        raise ConfigError(
            f"sampler 'grid' cannot build a grid: {exc}",
            fix="list the values to try under `grid:`, give float params a `step`, "
            "or use random or tpe",
        ) from None
    # Workers only ever run enqueued grid points; this sampler is never asked for a value.
    return optuna.samplers.RandomSampler(seed=seed)


SAMPLERS: dict[str, SamplerFactory] = {
    "random": _random,
    "tpe": _tpe,
    "gp": _gp,
    "nsga2": _nsga2,
    "nsga3": _nsga3,
    "cmaes": _cmaes,
    "qmc": _qmc,
    "grid": _grid,
}


def sampler_names() -> list[str]:
    return sorted(SAMPLERS)


def build_sampler(name: str, spec: SearchSpaceSpec, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler ``name`` for ``spec`` seeded by ``seed``, or a clear error before anything
    runs. Each trial is suggested by a sampler of its own stream, derived from ``seed`` and the
    trial number (:class:`~hpo.sampler_streams.TrialSeededSampler`)."""
    try:
        factory = SAMPLERS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown sampler {name!r}", fix=f"use one of: {', '.join(sampler_names())}"
        ) from None
    return TrialSeededSampler(lambda trial_seed: factory(spec, trial_seed, seed), seed)


def build_pruner(spec: PrunerSpec) -> optuna.pruners.BasePruner:
    """The pruner a spec names (``none`` by default)."""
    opts = dict(spec.options)
    try:
        if spec.name == "median":
            return optuna.pruners.MedianPruner(**opts)
        if spec.name == "successive_halving":
            return optuna.pruners.SuccessiveHalvingPruner(**opts)
        if spec.name == "hyperband":
            return optuna.pruners.HyperbandPruner(**opts)
    except TypeError as exc:
        raise ConfigError(
            f"pruner {spec.name!r} does not take these options: {exc}",
            fix="see the Optuna docs of that pruner for its arguments",
        ) from None
    except ValueError as exc:  # Optuna's own range checks (n_startup_trials: -3, ...)
        raise ConfigError(
            f"pruner {spec.name!r} rejects these options: {exc}",
            fix="see the Optuna docs of that pruner for the values its arguments take",
        ) from None
    return optuna.pruners.NopPruner()
