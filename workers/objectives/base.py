"""The objective plug point: what a trial runs.

An objective takes the sampled params (a plain dict) and, optionally, a :class:`TrialContext`,
and returns one float (the metric to minimise or maximise), or, for a study of several
objectives, a dict of named values or a tuple in the spec's ``objectives`` order
(:data:`ObjectiveResult`); ``hpo.objectives_spec`` maps it to the study's values. Built-in
objectives (xgboost, lightgbm, torch_mlp) and users' own functions (``package.module:function``)
share this shape, so the trial runner never needs to know which one it is calling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Params = Mapping[str, Any]
#: What an objective returns: one value, named values, or values in the declared order.
ObjectiveResult = float | Mapping[str, float] | Sequence[float]


@dataclass(frozen=True)
class EvaluationSetup:
    """What a built-in objective evaluates on: named dataset, metric and cross-validation."""

    dataset: str
    metric: str
    cv_folds: int = 5
    seed: int = 0
    #: The metric the intermediate values (``context.report``) are scored with; "" means
    #: ``metric``. See :func:`hpo.workers.cv.pruning_score`.
    pruning_metric: str = ""


@dataclass(frozen=True)
class TrialContext:
    """What an objective may know about the trial it runs in.

    ``report(step, value)`` stores an intermediate value; it raises
    :class:`optuna.TrialPruned` when the study's pruner decides the trial should stop, so an
    objective only has to call it and let the exception pass.
    """

    trial_number: int
    device: str
    setup: EvaluationSetup
    threads: int = 1
    report: Callable[[int, float], None] = field(default=lambda step, value: None, repr=False)
    #: Metrics reported beside the value (the built-ins' ``latency_ms``, ``model_size_kb``,
    #: ``fit_time_s``: :mod:`hpo.workers.objectives.costs`); objectives and constraints may
    #: name them.
    metrics: dict[str, float] = field(default_factory=dict, repr=False)


@runtime_checkable
class Objective(Protocol):
    """A built-in objective: ``objective(params, context) -> float`` (the benchmark problems of
    several objectives return a dict)."""

    def __call__(self, params: Params, context: TrialContext) -> ObjectiveResult: ...
