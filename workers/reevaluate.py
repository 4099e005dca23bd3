"""Re-evaluating a configuration outside a study: the promotion gate's evidence.

The objective runs with the given params once per seed (the seed reaches built-in objectives as
their cross-validation shuffle and model seed), with no pruning, on this worker's device.
:func:`evaluations` yields what each run returned and the metrics it reported (a study of several
objectives maps them to its objectives and constraints: ``hpo.objectives_spec.trial_values``);
:func:`reevaluate` is the single-objective gate's view: one finite float per seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpo.errors import ConfigError
from hpo.search_spaces.schema import SearchSpaceSpec
from hpo.settings import HpoSettings
from hpo.workers.devices import resolve_device
from hpo.workers.objectives.base import EvaluationSetup, ObjectiveResult, TrialContext
from hpo.workers.objectives.registry import resolve_objective


@dataclass(frozen=True)
class Evaluation:
    """One seed's run of a configuration."""

    seed: int
    #: What the objective returned: a float, a dict of named values or a tuple.
    result: ObjectiveResult
    #: What it reported beside it (``context.metrics``: the built-ins' costs).
    metrics: dict[str, float]


def evaluations(
    spec: SearchSpaceSpec,
    params: Mapping[str, Any],
    seeds: Sequence[int],
    settings: HpoSettings,
) -> Iterator[Evaluation]:
    """Run the objective with ``params`` once per seed, lazily (one run per item taken)."""
    objective = resolve_objective(spec.objective)
    device = resolve_device(settings.worker.device, settings.worker.allow_cpu_fallback)
    for seed in seeds:
        setup = EvaluationSetup(
            dataset=spec.dataset or "", metric=spec.metric or "", cv_folds=spec.cv_folds, seed=seed
        )
        context = TrialContext(
            trial_number=-1, device=device, setup=setup, threads=settings.worker.threads
        )
        result = objective(dict(params), context)
        yield Evaluation(seed=seed, result=result, metrics=dict(context.metrics))


def reevaluate(
    spec: SearchSpaceSpec,
    params: Mapping[str, Any],
    seeds: Sequence[int],
    settings: HpoSettings,
) -> list[float]:
    """One score per seed; a non-finite score is an error (the config cannot be promoted)."""
    scores = []
    for run in evaluations(spec, params, seeds, settings):
        seed, result = run.seed, run.result
        if isinstance(result, Mapping | Sequence):
            raise ConfigError(
                f"objective {spec.objective!r} returned several values; only a single-objective "
                "study can be re-evaluated",
                fix="promote from a study whose objective returns one float",
            )
        score = float(result)
        if not math.isfinite(score):
            raise ConfigError(
                f"re-evaluating params {dict(params)} with seed {seed} gave {score}",
                fix="a configuration must score a finite number to be promoted",
            )
        scores.append(score)
    return scores
