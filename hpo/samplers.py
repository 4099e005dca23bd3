"""The sampler and pruner plug points: one registry each, by name.

A sampler factory takes the spec and a seed and returns an Optuna sampler. ``grid`` is special:
the grid points are enqueued once by the coordinator (see :mod:`hpo.study_setup`) and workers
claim them as WAITING trials, because Optuna's ``GridSampler`` alone repeats points when several
workers run at once. Every factory checks that it fits the space first, so a combination that
cannot work (CMA-ES on a categorical-only space) fails before anything runs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING

import optuna

from hpo.errors import ConfigError, UnknownNameError

if TYPE_CHECKING:
    from hpo.search_spaces.schema import PrunerSpec, SearchSpaceSpec

SamplerFactory = Callable[["SearchSpaceSpec", int], optuna.samplers.BaseSampler]


def _numeric_params(spec: SearchSpaceSpec) -> list[str]:
    return [n for n, p in spec.params.items() if p.type in ("int", "float")]


def _needs(module: str, sampler: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"sampler {sampler!r} needs the package {module!r}, which is not installed",
            fix=f"pip install {extra}",
        )


def _random(spec: SearchSpaceSpec, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def _tpe(spec: SearchSpaceSpec, seed: int) -> optuna.samplers.BaseSampler:
    # Optuna 5 defaults: multivariate, constant liar (good under parallel workers).
    return optuna.samplers.TPESampler(seed=seed)


def _gp(spec: SearchSpaceSpec, seed: int) -> optuna.samplers.BaseSampler:
    _needs("torch", "gp", "-e '.[torch]'  (GPSampler runs on torch)")
    return optuna.samplers.GPSampler(seed=seed)


def _cmaes(spec: SearchSpaceSpec, seed: int) -> optuna.samplers.BaseSampler:
    if not _numeric_params(spec):
        raise ConfigError(
            f"sampler 'cmaes' needs at least one int or float param, but every param of "
            f"{spec.name!r} is categorical",
            fix="use tpe, random or grid for a categorical-only space",
        )
    _needs("cmaes", "cmaes", "cmaes")
    return optuna.samplers.CmaEsSampler(seed=seed)


def _qmc(spec: SearchSpaceSpec, seed: int) -> optuna.samplers.BaseSampler:
    if not _numeric_params(spec):
        raise ConfigError(
            f"sampler 'qmc' needs at least one int or float param, but every param of "
            f"{spec.name!r} is categorical",
            fix="use tpe, random or grid for a categorical-only space",
        )
    return optuna.samplers.QMCSampler(seed=seed, scramble=True)


def _grid(spec: SearchSpaceSpec, seed: int) -> optuna.samplers.BaseSampler:
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
    "cmaes": _cmaes,
    "qmc": _qmc,
    "grid": _grid,
}


def sampler_names() -> list[str]:
    return sorted(SAMPLERS)


def build_sampler(name: str, spec: SearchSpaceSpec, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler ``name`` for ``spec``, or a clear error before anything runs."""
    try:
        factory = SAMPLERS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown sampler {name!r}", fix=f"use one of: {', '.join(sampler_names())}"
        ) from None
    return factory(spec, seed)


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
