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
from pathlib import Path
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


class TrialFiles(Protocol):
    """Where a trial's files go (``hpo.workers.artifacts.TrialArtifacts`` in a study)."""

    @property
    def keeps_models(self) -> bool: ...

    def save(self, data: str | Path | bytes, name: str) -> str: ...

    def offer_model(self, data: bytes, name: str) -> None: ...

    def checkpoint(self, state: Any, step: int | None = None) -> None: ...

    def restore(self) -> Any | None: ...


@dataclass(frozen=True)
class TrialContext:
    """What an objective may know about the trial it runs in.

    ``report(step, value)`` stores an intermediate value; it raises
    :class:`optuna.TrialPruned` when the study's pruner decides the trial should stop, so an
    objective only has to call it and let the exception pass.

    ``save_artifact``, ``checkpoint`` and ``restore`` reach the study's artifact store
    (docs/models.md). Outside a study (re-evaluation, final models) nothing is stored:
    ``save_artifact`` returns "", ``restore`` None.
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
    files: TrialFiles | None = field(default=None, repr=False)

    def save_artifact(self, data: str | Path | bytes, name: str) -> str:
        """Store a file (a path) or bytes as artifact ``name`` of this trial, shown beside it in
        optuna-dashboard; returns its artifact id. Over ``HPO_ARTIFACTS_MAX_MB`` it raises
        :class:`~hpo.errors.ArtifactTooLargeError`."""
        return self.files.save(data, name) if self.files is not None else ""

    @property
    def keeps_models(self) -> bool:
        """True when the spec asks for models: only then need an objective serialise one."""
        return self.files is not None and self.files.keeps_models

    def save_model(self, data: bytes, name: str) -> None:
        """The trial's trained model (built-in objectives): stored when the trial completes and
        the spec asks for models (``artifacts: {models: {best_k: K}}``), else dropped."""
        if self.files is not None:
            self.files.offer_model(data, name)

    def checkpoint(self, state: Any, step: int | None = None) -> None:
        """Save ``state`` (picklable) as this trial's last checkpoint: a retry of the trial
        after its worker died gets it back from :meth:`restore` (``step``, e.g. the epoch, is
        recorded in the retry's ``restored_checkpoint`` user attribute)."""
        if self.files is not None:
            self.files.checkpoint(state, step)

    def restore(self) -> Any | None:
        """The last checkpoint of this trial's lineage (it, or the trial it retries), or None:
        none saved, or unreadable (logged; the trial starts fresh)."""
        return self.files.restore() if self.files is not None else None


@runtime_checkable
class Objective(Protocol):
    """A built-in objective: ``objective(params, context) -> float`` (the benchmark problems of
    several objectives return a dict)."""

    def __call__(self, params: Params, context: TrialContext) -> ObjectiveResult: ...
