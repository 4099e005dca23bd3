"""The secondary metrics every built-in model trainer reports beside its score: what a model
costs, for studies that trade accuracy against it (``objectives:``/``constraints:`` in a spec).

* ``fit_time_s``: seconds to fit one fold's model (mean over folds);
* ``latency_ms``: milliseconds to predict 1,000 rows (median over folds, batch prediction of
  the validation fold, scaled to 1,000 rows);
* ``model_size_kb``: the fitted model serialized, in KiB (mean over folds).

They land in ``context.metrics`` (:class:`~hpo.workers.objectives.base.TrialContext`); the trial
runner stores them on the trial and hands them to the spec's objectives and constraints.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hpo.workers.objectives.base import TrialContext

#: The metrics :class:`CostMeter` reports, in its order.
SECONDARY_METRICS = ("latency_ms", "model_size_kb", "fit_time_s")


class CostMeter:
    """Times fits and predictions and records model sizes over a cross-validation."""

    def __init__(self) -> None:
        self._fit_s: list[float] = []
        self._latency_ms: list[float] = []
        self._size_kb: list[float] = []
        self._inner_s = 0.0  # prediction time spent inside the current fit() block

    @contextmanager
    def fit(self) -> Iterator[None]:
        """Time one fold's fit (a prediction timed inside it is not counted as fitting)."""
        self._inner_s = 0.0
        start = time.perf_counter()
        yield
        self._fit_s.append(max(time.perf_counter() - start - self._inner_s, 0.0))

    @contextmanager
    def predict(self, n_rows: int) -> Iterator[None]:
        """Time one batch prediction of ``n_rows`` rows."""
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self._inner_s += elapsed
        self._latency_ms.append(elapsed * 1000.0 * 1000.0 / max(n_rows, 1))

    def model_bytes(self, n_bytes: int) -> None:
        """Record one fold's serialized model size."""
        self._size_kb.append(n_bytes / 1024.0)

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self._latency_ms:
            out["latency_ms"] = statistics.median(self._latency_ms)
        if self._size_kb:
            out["model_size_kb"] = statistics.fmean(self._size_kb)
        if self._fit_s:
            out["fit_time_s"] = statistics.fmean(self._fit_s)
        return out

    def publish(self, context: TrialContext) -> None:
        """Put the metrics in ``context.metrics`` (where the trial runner reads them)."""
        context.metrics.update(self.metrics())
