"""Benchmark problems with several objectives and known Pareto fronts (ZDT1, ZDT2), the way
``synthetic.py`` gives single-objective functions with known optima.

Zitzler, Deb & Thiele (2000): params ``x0 .. x{n-1}`` in [0, 1]; both objectives minimised;
``f1 = x0``, ``g = 1 + 9 * mean(x1..)``, ``f2 = g * h(f1, g)``. The front is ``g = 1``:
``f2 = 1 - sqrt(f1)`` (ZDT1, convex) and ``f2 = 1 - f1**2`` (ZDT2, concave), f1 in [0, 1].
The bundled specs use n = 10 (the classic is 30) so that a 100-trial budget says something.
Pure Python; the objective returns ``{"f1": ..., "f2": ...}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from hpo.errors import ConfigError, UnknownNameError
from hpo.workers.objectives.base import TrialContext


class ParetoProblem(BaseModel):
    """A benchmark's known facts: the metrics it reports, its front, a reference point."""

    model_config = ConfigDict(frozen=True)

    name: str
    metrics: tuple[str, ...]
    #: The hypervolume reference point (every objective minimised): (11, 11), far enough that
    #: random search at 100 trials (f2 up to ~10) still dominates some of the box.
    reference_point: tuple[float, ...]
    #: The true front's hypervolume against ``reference_point`` (closed form).
    optimal_hypervolume: float


def _h_zdt1(f1: float, g: float) -> float:
    return 1.0 - math.sqrt(f1 / g)


def _h_zdt2(f1: float, g: float) -> float:
    return 1.0 - (f1 / g) ** 2


_H: dict[str, Callable[[float, float], float]] = {"zdt1": _h_zdt1, "zdt2": _h_zdt2}

# Area under the front f2(f1) on [0, 1]: integral of 1 - sqrt(f1) = 1/3, of 1 - f1**2 = 2/3.
PARETO_PROBLEMS: dict[str, ParetoProblem] = {
    "zdt1": ParetoProblem(
        name="zdt1",
        metrics=("f1", "f2"),
        reference_point=(11.0, 11.0),
        optimal_hypervolume=121.0 - 1.0 / 3.0,
    ),
    "zdt2": ParetoProblem(
        name="zdt2",
        metrics=("f1", "f2"),
        reference_point=(11.0, 11.0),
        optimal_hypervolume=121.0 - 2.0 / 3.0,
    ),
}


def is_pareto_problem(name: str) -> bool:
    return name in PARETO_PROBLEMS


def pareto_problem(name: str) -> ParetoProblem:
    try:
        return PARETO_PROBLEMS[name]
    except KeyError:
        raise UnknownNameError(
            f"{name!r} is not a benchmark problem with a known Pareto front",
            fix=f"use one of: {', '.join(sorted(PARETO_PROBLEMS))}",
        ) from None


def true_front(name: str, n_points: int = 101) -> list[tuple[float, float]]:
    """``n_points`` points of the problem's true front (g = 1), f1 from 0 to 1."""
    h = _H[pareto_problem(name).name]
    return [(i / (n_points - 1), h(i / (n_points - 1), 1.0)) for i in range(n_points)]


def evaluate_zdt(name: str, params: Mapping[str, Any]) -> dict[str, float]:
    """ZDT ``name`` at ``params`` ``x0 .. x{n-1}`` (n >= 2, in the order of their numbers)."""
    h = _H[pareto_problem(name).name]
    keys = sorted((k for k in params if k.startswith("x") and k[1:].isdigit()), key=_number)
    if len(keys) < 2 or [_number(k) for k in keys] != list(range(len(keys))):
        raise ConfigError(
            f"the built-in objective {name!r} takes params x0..x{{n-1}} (n >= 2), but got "
            f"{sorted(params)}",
            fix=f"declare x0..x9 under `params` (see search_spaces/specs/{name}.yaml)",
        )
    x = [float(params[k]) for k in keys]
    f1 = x[0]
    g = 1.0 + 9.0 * sum(x[1:]) / (len(x) - 1)
    return {"f1": f1, "f2": g * h(f1, g)}


def _number(key: str) -> int:
    return int(key[1:])


def zdt1(params: Mapping[str, Any], context: TrialContext) -> dict[str, float]:
    """ZDT1: two objectives, convex front f2 = 1 - sqrt(f1)."""
    return evaluate_zdt("zdt1", params)


def zdt2(params: Mapping[str, Any], context: TrialContext) -> dict[str, float]:
    """ZDT2: two objectives, concave front f2 = 1 - f1**2."""
    return evaluate_zdt("zdt2", params)
