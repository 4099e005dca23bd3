"""Objectives for the benchmarks, importable as ``benchmarks.objectives:NAME`` from the repo."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


def sleep_1s(params: Mapping[str, Any]) -> float:
    """A trial that takes one second of wall time and no CPU."""
    time.sleep(1.0)
    return float(params["x"]) ** 2


def trivial(params: Mapping[str, Any]) -> float:
    """A trial that costs nothing: what is left is the store's own cost."""
    return float(params["x"]) ** 2


def slow_branin(params: Mapping[str, Any]) -> float:
    """Branin after 0.1 s of sleep, so W workers' trials overlap (benchmarks/parallel_quality)."""
    from hpo.workers.objectives.synthetic import evaluate

    time.sleep(0.1)
    return evaluate("branin", params)


def slow_hartmann6(params: Mapping[str, Any]) -> float:
    """Hartmann6 after 0.1 s of sleep (see :func:`slow_branin`)."""
    from hpo.workers.objectives.synthetic import evaluate

    time.sleep(0.1)
    return evaluate("hartmann6", params)
