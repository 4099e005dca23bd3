"""Re-evaluating a configuration outside a study: the promotion gate's evidence.

The objective runs with the given params once per seed (the seed reaches built-in objectives as
their cross-validation shuffle and model seed), with no pruning, on this worker's device.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hpo.errors import ConfigError
from hpo.search_spaces.schema import SearchSpaceSpec
from hpo.settings import HpoSettings
from hpo.workers.devices import resolve_device
from hpo.workers.objectives.base import EvaluationSetup, TrialContext
from hpo.workers.objectives.registry import resolve_objective


def reevaluate(
    spec: SearchSpaceSpec,
    params: Mapping[str, Any],
    seeds: Sequence[int],
    settings: HpoSettings,
) -> list[float]:
    """One score per seed; a non-finite score is an error (the config cannot be promoted)."""
    objective = resolve_objective(spec.objective)
    device = resolve_device(settings.worker.device, settings.worker.allow_cpu_fallback)
    scores = []
    for seed in seeds:
        setup = EvaluationSetup(
            dataset=spec.dataset or "", metric=spec.metric or "", cv_folds=spec.cv_folds, seed=seed
        )
        context = TrialContext(
            trial_number=-1, device=device, setup=setup, threads=settings.worker.threads
        )
        result = objective(dict(params), context)
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
