"""Benchmark objectives with known optima, for validating samplers (``hpo compare``).

Classic test functions of global optimisation (Surjanovic & Bingham's Virtual Library of
Simulation Experiments): each takes its coordinates as params ``x0 .. x{d-1}`` and ignores the
context (no dataset, no metric). :data:`SYNTHETIC_FUNCTIONS` records each one's bounds, its global
minimum and where it is reached, so a comparison report can show the simple regret
(best value found minus the known minimum). Every function is minimised. Pure Python, no numpy:
a trial costs microseconds, so a comparison measures the samplers, not the objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from hpo.errors import ConfigError, UnknownNameError
from hpo.workers.objectives.base import TrialContext


class SyntheticFunction(BaseModel):
    """A test function's known facts: bounds per coordinate, global minimum and its argmins."""

    model_config = ConfigDict(frozen=True)

    name: str
    bounds: tuple[tuple[float, float], ...]
    optimum: float
    argmins: tuple[tuple[float, ...], ...]
    #: How close to ``optimum`` the function is at the (rounded) published argmins.
    tolerance: float = 1e-5

    @property
    def dim(self) -> int:
        return len(self.bounds)

    @property
    def param_names(self) -> list[str]:
        return [f"x{i}" for i in range(self.dim)]


def _coords(name: str, params: Mapping[str, Any], dim: int) -> list[float]:
    try:
        return [float(params[f"x{i}"]) for i in range(dim)]
    except KeyError as exc:
        raise ConfigError(
            f"the built-in objective {name!r} takes params x0..x{dim - 1}, but {exc} is missing "
            f"(got {sorted(params)})",
            fix=f"declare x0..x{dim - 1} under `params` (see search_spaces/specs/{name}.yaml)",
        ) from None


def branin_fn(x: list[float]) -> float:
    x1, x2 = x
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


_H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H6_A = (
    (10, 3, 17, 3.5, 1.7, 8),
    (0.05, 10, 17, 0.1, 8, 14),
    (3, 3.5, 1.7, 10, 17, 8),
    (17, 8, 0.05, 10, 0.1, 14),
)
_H6_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)


def hartmann6_fn(x: list[float]) -> float:
    total = 0.0
    for alpha, a_row, p_row in zip(_H6_ALPHA, _H6_A, _H6_P, strict=True):
        inner = sum(a * (xj - p) ** 2 for a, xj, p in zip(a_row, x, p_row, strict=True))
        total += alpha * math.exp(-inner)
    return -total


def rosenbrock_fn(x: list[float]) -> float:
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def six_hump_camel_fn(x: list[float]) -> float:
    x1, x2 = x
    return (4 - 2.1 * x1**2 + x1**4 / 3) * x1**2 + x1 * x2 + (-4 + 4 * x2**2) * x2**2


def ackley_fn(x: list[float]) -> float:
    d = len(x)
    squares = sum(v * v for v in x) / d
    cosines = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20 * math.exp(-0.2 * math.sqrt(squares)) - math.exp(cosines) + 20 + math.e


SYNTHETIC_FUNCTIONS: dict[str, SyntheticFunction] = {
    f.name: f
    for f in (
        SyntheticFunction(
            name="branin",
            bounds=((-5.0, 10.0), (0.0, 15.0)),
            optimum=0.397887357729738,  # 0.397887 to 6 digits
            argmins=((-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)),
        ),
        SyntheticFunction(
            name="hartmann6",
            bounds=((0.0, 1.0),) * 6,
            optimum=-3.32236801141551,  # -3.32237 to 6 digits
            argmins=((0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573),),
        ),
        SyntheticFunction(
            name="rosenbrock",
            bounds=((-5.0, 10.0), (-5.0, 10.0)),
            optimum=0.0,
            argmins=((1.0, 1.0),),
        ),
        SyntheticFunction(
            name="six_hump_camel",
            bounds=((-3.0, 3.0), (-2.0, 2.0)),
            optimum=-1.031628453489877,
            argmins=((0.0898, -0.7126), (-0.0898, 0.7126)),
            tolerance=1e-4,
        ),
        SyntheticFunction(
            name="ackley",
            bounds=((-32.768, 32.768), (-32.768, 32.768)),
            optimum=0.0,
            argmins=((0.0, 0.0),),
        ),
    )
}

_FUNCTIONS: dict[str, Callable[[list[float]], float]] = {
    "branin": branin_fn,
    "hartmann6": hartmann6_fn,
    "rosenbrock": rosenbrock_fn,
    "six_hump_camel": six_hump_camel_fn,
    "ackley": ackley_fn,
}


def is_synthetic(name: str) -> bool:
    """True for a built-in benchmark objective (it needs no dataset and no metric)."""
    return name in SYNTHETIC_FUNCTIONS


def synthetic_function(name: str) -> SyntheticFunction:
    """The known facts of benchmark objective ``name``."""
    try:
        return SYNTHETIC_FUNCTIONS[name]
    except KeyError:
        raise UnknownNameError(
            f"{name!r} is not a benchmark objective with a known optimum",
            fix=f"use one of: {', '.join(sorted(SYNTHETIC_FUNCTIONS))}",
        ) from None


def evaluate(name: str, params: Mapping[str, Any]) -> float:
    """Benchmark objective ``name`` at ``params`` (``x0 .. x{d-1}``)."""
    fn = synthetic_function(name)
    return _FUNCTIONS[name](_coords(name, params, fn.dim))


def branin(params: Mapping[str, Any], context: TrialContext) -> float:
    """Branin-Hoo, 2-D: min 0.397887 at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475)."""
    return evaluate("branin", params)


def hartmann6(params: Mapping[str, Any], context: TrialContext) -> float:
    """Hartmann, 6-D on [0, 1]^6: min -3.32237."""
    return evaluate("hartmann6", params)


def rosenbrock(params: Mapping[str, Any], context: TrialContext) -> float:
    """Rosenbrock, 2-D: min 0 at (1, 1), at the end of a long curved valley."""
    return evaluate("rosenbrock", params)


def six_hump_camel(params: Mapping[str, Any], context: TrialContext) -> float:
    """Six-hump camel, 2-D: min -1.0316 at (0.0898, -0.7126) and (-0.0898, 0.7126)."""
    return evaluate("six_hump_camel", params)


def ackley(params: Mapping[str, Any], context: TrialContext) -> float:
    """Ackley, 2-D: min 0 at the origin, among many local minima."""
    return evaluate("ackley", params)
