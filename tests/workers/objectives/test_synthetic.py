"""The benchmark objectives: each reaches its known minimum at its known argmins, nowhere lower,
and runs as a built-in objective without a dataset or a metric."""

from __future__ import annotations

import random

import pytest

from hpo.errors import ConfigError, UnknownNameError
from hpo.search_spaces.checks import check_spec
from hpo.search_spaces.loader import load_spec, parse_spec
from hpo.workers.objectives import EvaluationSetup, TrialContext, is_builtin, resolve_objective
from hpo.workers.objectives.synthetic import (
    SYNTHETIC_FUNCTIONS,
    evaluate,
    is_synthetic,
    synthetic_function,
)

NAMES = sorted(SYNTHETIC_FUNCTIONS)
CONTEXT = TrialContext(trial_number=0, device="cpu", setup=EvaluationSetup(dataset="", metric=""))


def _params(point: tuple[float, ...]) -> dict[str, float]:
    return {f"x{i}": v for i, v in enumerate(point)}


def test_the_classics_are_there() -> None:
    assert {"branin", "hartmann6", "rosenbrock", "six_hump_camel", "ackley"} <= set(NAMES)
    assert synthetic_function("branin").optimum == pytest.approx(0.397887, abs=1e-6)
    assert synthetic_function("hartmann6").optimum == pytest.approx(-3.32237, abs=1e-5)
    assert synthetic_function("branin").bounds == ((-5.0, 10.0), (0.0, 15.0))
    assert synthetic_function("hartmann6").bounds == ((0.0, 1.0),) * 6


@pytest.mark.parametrize("name", NAMES)
def test_known_optimum_at_known_argmins(name: str) -> None:
    fn = SYNTHETIC_FUNCTIONS[name]
    assert fn.argmins
    for point in fn.argmins:
        assert len(point) == fn.dim
        assert all(lo <= x <= hi for x, (lo, hi) in zip(point, fn.bounds, strict=True))
        assert evaluate(name, _params(point)) == pytest.approx(fn.optimum, abs=fn.tolerance)


@pytest.mark.parametrize("name", NAMES)
def test_nothing_in_bounds_is_below_the_optimum(name: str) -> None:
    fn = SYNTHETIC_FUNCTIONS[name]
    rng = random.Random(0)
    for _ in range(2000):
        point = tuple(rng.uniform(lo, hi) for lo, hi in fn.bounds)
        assert evaluate(name, _params(point)) >= fn.optimum - fn.tolerance


@pytest.mark.parametrize("name", NAMES)
def test_runs_as_a_builtin_objective(name: str) -> None:
    assert is_builtin(name) and is_synthetic(name)
    fn = SYNTHETIC_FUNCTIONS[name]
    value = resolve_objective(name)(_params(fn.argmins[0]), CONTEXT)
    assert value == pytest.approx(fn.optimum, abs=fn.tolerance)


def test_missing_coordinate_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as info:
        evaluate("branin", {"x0": 1.0})
    message = str(info.value)
    assert "takes params x0..x1" in message and "'x1'" in message
    assert "search_spaces/specs/branin.yaml" in message


def test_unknown_function() -> None:
    with pytest.raises(UnknownNameError, match="not a benchmark objective"):
        synthetic_function("xgboost")
    assert not is_synthetic("xgboost")


@pytest.mark.parametrize("name", ["branin", "hartmann6"])
def test_bundled_specs_need_no_dataset_and_match_the_bounds(name: str) -> None:
    spec = load_spec(name)
    assert spec.dataset is None and spec.metric is None and spec.direction == "minimize"
    for sampler in ("random", "tpe", "grid", "qmc"):
        check_spec(spec, sampler)  # no dataset/metric asked for
    fn = SYNTHETIC_FUNCTIONS[name]
    assert list(spec.params) == fn.param_names
    for pname, (lo, hi) in zip(fn.param_names, fn.bounds, strict=True):
        param = spec.params[pname]
        assert (param.low, param.high) == (lo, hi)  # type: ignore[union-attr]
    assert spec.grid_points()  # grid can run


def test_ml_builtins_still_need_a_dataset() -> None:
    spec = parse_spec(
        {"name": "x", "objective": "xgboost", "params": {"a": {"type": "int", "low": 1, "high": 2}}}
    )
    with pytest.raises(ConfigError, match="needs `dataset`"):
        check_spec(spec, "random")
