"""The statistics of a comparison: small pure functions over a few numbers per sampler.

* :func:`mann_whitney_p`: two samplers' final bests, two-sided Mann-Whitney U (rank-based: no
  assumption on the shape of the distributions, fit for a handful of seeds).
* :func:`sign_test_p`: a sampler's runs against a constant (grid, deterministic, is one value).
* :func:`holm`: Holm-Bonferroni adjustment across the comparisons with the leader.
* :func:`bootstrap_gap_ci`: percentile-bootstrap interval of a difference of medians.
* :func:`min_p_value`: the smallest p a test can give at these sample sizes, to say when no
  difference could ever be called significant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

BOOTSTRAP_RESAMPLES = 2000


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value (1.0 when every value is the same)."""
    from scipy.stats import mannwhitneyu  # type: ignore[import-untyped]

    if len(set(a) | set(b)) <= 1:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def sign_test_p(values: Sequence[float], constant: float) -> float:
    """Two-sided exact sign test of "the median of ``values`` is ``constant``" (ties dropped):
    the test for a sampler against a deterministic one, whose single value is no sample."""
    from scipy.stats import binomtest

    above = sum(v > constant for v in values)
    below = sum(v < constant for v in values)
    if above + below == 0:
        return 1.0
    return float(binomtest(above, above + below, 0.5).pvalue)


def min_p_value(test: str, n1: int, n2: int) -> float:
    """The smallest two-sided p-value the test can give with samples of these sizes."""
    if test == "sign":
        return min(1.0, 2 * 0.5 ** max(n1, n2))
    return min(1.0, 2 / math.comb(n1 + n2, n1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def bootstrap_gap_ci(
    losses: Sequence[float], leader_losses: Sequence[float], *, seed: int = 0
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of median(losses) - median(leader_losses)."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(losses, dtype=float), np.asarray(leader_losses, dtype=float)
    ia = rng.integers(0, len(a), size=(BOOTSTRAP_RESAMPLES, len(a)))
    ib = rng.integers(0, len(b), size=(BOOTSTRAP_RESAMPLES, len(b)))
    gaps = np.median(a[ia], axis=1) - np.median(b[ib], axis=1)
    low, high = np.percentile(gaps, [2.5, 97.5])
    return float(low), float(high)
