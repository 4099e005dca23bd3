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
