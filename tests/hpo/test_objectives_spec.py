"""What one trial's result becomes: values in the declared order, reported metrics, constraint
values (Optuna's <= 0 feasible); and the checks made before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from hpo.errors import ConfigError
from hpo.objectives_spec import (
    check_objectives,
    known_metrics,
    objective_names,
    study_directions,
    trial_values,
)
from hpo.search_spaces.loader import parse_spec
from hpo.search_spaces.schema import SearchSpaceSpec

PARAMS = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
TWO = [{"metric": "loss", "direction": "minimize"}, {"metric": "size", "direction": "minimize"}]


def _spec(**fields: Any) -> SearchSpaceSpec:
    return parse_spec({"name": "t", "objective": "pkg.mod:fn", "params": PARAMS, **fields})


def test_names_and_directions() -> None:
    assert objective_names(_spec()) == ["pkg.mod:fn"]
    assert study_directions(_spec()) == ["minimize"]
    assert study_directions(_spec(metric="accuracy")) == ["maximize"]  # the metric's own
    two = _spec(objectives=TWO)
    assert two.multi_objective
    assert objective_names(two) == ["loss", "size"]
    assert study_directions(_spec(objectives=[TWO[0] | {"direction": "maximize"}])) == ["maximize"]


@pytest.mark.parametrize(
    ("result", "reported", "values", "metrics"),
    [
        ({"loss": 0.5, "size": 3, "extra": 1.0}, {}, (0.5, 3.0), {"extra": 1.0}),
        ((0.5, 3.0), {}, (0.5, 3.0), {}),
        ([0.5, 3.0], {"other": 9.0}, (0.5, 3.0), {"other": 9.0}),
        ({"loss": 0.5}, {"size": 4.0}, (0.5, 4.0), {}),  # a reported metric is an objective
    ],
    ids=["dict", "tuple", "list", "dict-and-context"],
)
def test_several_values_map_in_the_declared_order(
    result: Any, reported: dict[str, float], values: tuple[float, ...], metrics: dict[str, float]
) -> None:
    out = trial_values(result, reported, _spec(objectives=TWO))
    assert out.values == values
    assert metrics.items() <= out.metrics.items()
    assert out.constraints == {}


def test_one_value_keeps_working() -> None:
    out = trial_values(0.25, {}, _spec())
    assert out.values == (0.25,) and out.metrics == {"pkg.mod:fn": 0.25}
    built_in_like = trial_values(0.9, {"latency_ms": 2.0}, _spec(metric="accuracy"))
    assert built_in_like.values == (0.9,)
    assert built_in_like.metrics == {"latency_ms": 2.0, "accuracy": 0.9}


def test_constraint_values_follow_optunas_sign() -> None:
    spec = _spec(
        objectives=TWO,
        constraints=[
            {"metric": "size", "op": "<=", "value": 5},
            {"metric": "latency", "op": ">=", "value": 1},
        ],
    )
    out = trial_values({"loss": 1.0, "size": 7.0, "latency": 3.0}, {}, spec)
    # size 2 over its bound; latency 2 inside
    assert out.constraints == {"size <= 5": 2.0, "latency >= 1": -2.0}


@pytest.mark.parametrize(
    ("result", "message", "where"),
    [
        (
            (1.0, 2.0, 3.0),
            "returned 3 value(s), but the spec declares 2 objective(s)",
            "objectives",
        ),
        (1.0, "returned one value, but the spec declares 2 objectives", "objectives"),
        ({"loss": 1.0}, "did not report 'size'", "objectives[1].metric"),
        ({"loss": 1.0, "size": "big"}, "returned str 'big' for 'size', not a number", None),
    ],
    ids=["count", "float-for-two", "missing", "not-a-number"],
)
def test_results_that_do_not_fit_name_the_field(
    result: Any, message: str, where: str | None
) -> None:
    with pytest.raises(ConfigError) as info:
        trial_values(result, {}, _spec(objectives=TWO))
    assert message in str(info.value)
    assert info.value.where == where
    assert info.value.fix


def test_a_constraint_on_an_unreported_metric_fails_the_trial() -> None:
    spec = _spec(objectives=TWO, constraints=[{"metric": "ram_mb", "op": "<=", "value": 1}])
    with pytest.raises(ConfigError, match="constraint `ram_mb <= 1` is on 'ram_mb'") as info:
        trial_values({"loss": 1.0, "size": 2.0}, {}, spec)
    assert info.value.where == "constraints[0].metric"


def test_known_metrics_of_the_built_ins() -> None:
    xgb = parse_spec(
        {"name": "t", "objective": "xgboost", "dataset": "wine", "metric": "accuracy",
         "params": {"max_depth": {"type": "int", "low": 1, "high": 3}}}
    )  # fmt: skip
    assert known_metrics(xgb) == {"accuracy", "latency_ms", "model_size_kb", "fit_time_s"}
    zdt = parse_spec({"name": "z", "objective": "zdt1", "objectives": [
        {"metric": "f1", "direction": "minimize"}, {"metric": "f3", "direction": "minimize"}
    ], "params": PARAMS})  # fmt: skip
    assert known_metrics(zdt) == {"f1", "f2"}
    with pytest.raises(ConfigError, match="does not report 'f3'") as info:
        check_objectives(zdt, source="z.yaml")
    assert info.value.where == "z.yaml: objectives[1].metric"
    assert known_metrics(_spec()) is None  # a user's function: checked trial by trial
