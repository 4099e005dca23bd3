"""The comparison report's models (services layer): what ``hpo compare`` reports, as stored in
the group row and ``report.json``. Plain frozen data: :mod:`hpo.compare.report` computes them,
:mod:`hpo.compare.verdict` and :mod:`hpo.compare.render` put them into words."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from hpo.compare.hypervolume import HypervolumeBasis

#: What the report ranks runs by: simple regret or the best value (one objective), hypervolume
#: regret or hypervolume (several objectives).
Metric = Literal["regret", "best value", "hypervolume", "hypervolume regret"]


class Spread(BaseModel):
    """Median, quartiles and range of a few numbers."""

    model_config = ConfigDict(frozen=True)

    n: int
    median: float
    q1: float
    q3: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        if not values:
            return None
        q1, med, q3 = (float(v) for v in np.percentile(values, [25, 50, 75]))
        return cls(n=len(values), median=med, q1=q1, q3=q3, min=min(values), max=max(values))


class SamplerResult(BaseModel):
    """One sampler over its runs. With several objectives every "best value" below is the
    run's hypervolume (after 1, 2, ... finished trials for the curve), and regret is
    hypervolume regret."""

    model_config = ConfigDict(frozen=True)

    sampler: str
    budget: int
    note: str | None
    studies: tuple[str, ...]
    #: Runs in the statistics (grid: its one study counted once per seed).
    runs: int
    #: One run stands for every seed (grid): tested as a constant, not as a sample.
    deterministic: bool
    #: Per counted run: the best value at the budget (None: no trial completed).
    final_values: tuple[float | None, ...]
    best: Spread | None
    regret: Spread | None
    #: Median / quartiles over runs of the best value so far, after 1, 2, ... finished trials.
    curve: tuple[float | None, ...]
    curve_q1: tuple[float | None, ...]
    curve_q3: tuple[float | None, ...]
    #: Per study: finished trials, and seconds, until the best value reached the target.
    trials_to_target: tuple[int | None, ...]
    time_to_target_s: tuple[float | None, ...]
    reached: int
    #: Medians over studies, None when fewer than half of them reached the target.
    median_trials_to_target: float | None
    median_time_to_target_s: float | None
    wall_s: Spread | None
    compute_s: Spread | None
    compute_s_total: float
    finished_trials: int
    failed_trials: int


class PairTest(BaseModel):
    """A sampler against the leader: Mann-Whitney U on the final bests (the sign test against a
    constant when one side is deterministic), and a bootstrap interval of the median gap."""

    model_config = ConfigDict(frozen=True)

    sampler: str
    leader: str
    test: Literal["mann-whitney-u", "sign"]
    n: int
    n_leader: int
    median: float
    median_leader: float
    #: Median of ``sampler`` minus median of ``leader``, in the objective's units (hypervolume
    #: with several objectives), signed so that a positive gap means ``sampler`` is worse; with
    #: its 95% bootstrap interval.
    gap: float
    gap_ci: tuple[float, float]
    p_value: float
    p_holm: float
    significant: bool


class ComparisonReport(BaseModel):
    """Everything ``hpo compare`` reports, as stored in the group row and ``report.json``.

    Stored reports are data: fields are added (optional), never renamed. With several
    objectives (``hypervolume`` set) the compared value is each run's hypervolume:
    ``direction`` is ``maximize``, ``metric`` is ``hypervolume`` (or ``hypervolume regret``
    when the optimal hypervolume is known, ``known_optimum``), and ``objective`` stays the
    spec's objective function."""

    model_config = ConfigDict(frozen=True)

    group: str
    spec_name: str
    spec_hash: str
    objective: str
    direction: str
    n_trials: int
    seeds: tuple[int, ...]
    #: The compared arms: sampler names, or ``sampler@wN`` labels when worker counts are
    #: compared (``workers``); every per-arm field below (``results``, ``ranking``, ``tests``)
    #: names them the same way.
    samplers: tuple[str, ...]
    #: In-process workers per study; several: the worker count is a compared dimension.
    workers: tuple[int, ...] = (1,)
    metric: Metric
    known_optimum: float | None
    target: float | None
    target_source: str
    alpha: float
    results: tuple[SamplerResult, ...]
    ranking: tuple[str, ...]
    leader: str | None
    tests: tuple[PairTest, ...]
    verdict: str
    notes: tuple[str, ...]
    created_at: datetime
    #: Several objectives: the objectives, the reference point and where it came from.
    hypervolume: HypervolumeBasis | None = None

    def result(self, sampler: str) -> SamplerResult:
        return next(r for r in self.results if r.sampler == sampler)

    def shown(self, value: float) -> float:
        """A value in the report's metric: the regret when the optimum is known (how far below
        a known maximum, such as the optimal hypervolume, or above a known minimum)."""
        if self.known_optimum is None:
            return value
        if self.direction == "maximize":
            return self.known_optimum - value
        return value - self.known_optimum

    @property
    def regret(self) -> bool:
        """True when the report's metric is a regret (lower is better)."""
        return self.known_optimum is not None

    @property
    def value_name(self) -> str:
        """What one run's number is: ``hypervolume`` (several objectives) or ``best value``."""
        return "hypervolume" if self.hypervolume is not None else "best value"
