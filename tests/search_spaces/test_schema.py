"""Spec validation: every rule gives a message naming the file, the field, the rule and a fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo.errors import SpecError
from hpo.search_spaces.loader import bundled_specs, load_spec, parse_spec

BASE: dict[str, Any] = {
    "name": "t",
    "objective": "xgboost",
    "dataset": "breast_cancer",
    "metric": "roc_auc",
    "params": {"max_depth": {"type": "int", "low": 2, "high": 6}},
}


def _with(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


def test_bundled_specs_are_valid() -> None:
    specs = bundled_specs()
    assert {"xgboost_breast_cancer", "lightgbm_wine", "torch_mlp_digits"} <= set(specs)
    for path in specs.values():
        spec = load_spec(path)
        assert spec.params
        assert spec.grid_points()  # every bundled spec can run under the grid sampler


@pytest.mark.parametrize(
    ("params", "field", "rule"),
    [
        (
            {"x": {"type": "integer", "low": 1, "high": 2}},
            "params.x",
            "unknown param type 'integer'",
        ),
        ({"x": {"type": "int", "low": 5, "high": 1}}, "params.x", "`low <= high` must hold"),
        ({"x": {"type": "float", "low": 0, "high": 1, "log": True}}, "params.x", "needs `low > 0`"),
        ({"x": {"type": "float", "low": -1, "high": 1, "log": True}}, "params.x", "low=-1"),
        ({"x": {"type": "categorical", "choices": []}}, "params.x.choices", "at least one value"),
        ({"x": {"type": "int", "low": 1, "high": 4, "lo": 2}}, "params.x.lo", "unknown field"),
        ({}, "params", "at least 1 item"),
    ],
)
def test_bad_params_are_named(params: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(_with(params=params), source="my.yaml")
    text = str(info.value)
    assert text.startswith("my.yaml: ")
    assert field in text
    assert rule in text
    assert "fix:" in text


def test_grid_value_outside_its_range() -> None:
    raw = _with(grid={"max_depth": [3, 9]})
    with pytest.raises(SpecError, match=r"grid.max_depth value 9 is outside .*int in \[2, 6\]"):
        parse_spec(raw, source="s.yaml")


def test_grid_param_must_be_declared() -> None:
    with pytest.raises(SpecError, match="grid param 'depth' is not declared"):
        parse_spec(_with(grid={"depth": [3]}), source="s.yaml")


def test_grid_points_cartesian_product() -> None:
    spec = parse_spec(
        _with(
            params={
                "a": {"type": "int", "low": 1, "high": 3},
                "b": {"type": "categorical", "choices": ["x", "y"]},
                "c": {"type": "float", "low": 0.0, "high": 1.0, "step": 0.5},
            },
            grid={"a": [1, 3]},
        )
    )
    points = spec.grid_points()
    assert len(points) == 2 * 2 * 3
    assert {"a": 3, "b": "y", "c": 0.5} in points


def test_float_without_step_has_no_grid() -> None:
    spec = parse_spec(_with(params={"lr": {"type": "float", "low": 0.1, "high": 1.0}}))
    with pytest.raises(ValueError, match="params.lr: a float param needs `step`"):
        spec.grid_points()


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nparams: {a: [1, 2\n")
    with pytest.raises(SpecError, match=r"broken.yaml:\d+: not valid YAML"):
        load_spec(path)


def test_missing_file_lists_bundled_specs() -> None:
    with pytest.raises(SpecError, match="xgboost_breast_cancer"):
        load_spec("no/such/spec.yaml")


def test_spec_is_frozen(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(BASE))
    spec = load_spec(path)
    with pytest.raises(ValueError):
        spec.name = "other"  # type: ignore[misc]


def test_artifacts_models_rules() -> None:
    spec = parse_spec(_with(artifacts={"models": {"best_k": 3}}))
    assert spec.artifacts.models is not None and spec.artifacts.models.best_k == 3
    assert parse_spec(BASE).artifacts.models is None  # models are opt-in
    with pytest.raises(SpecError, match=r"artifacts.models.best_k: .*greater than or equal to 1"):
        parse_spec(_with(artifacts={"models": {"best_k": 0}}))
    with pytest.raises(SpecError, match=r"artifacts.models.keep: unknown field"):
        parse_spec(_with(artifacts={"models": {"keep": 3}}))


def test_a_benchmark_function_stores_no_model() -> None:
    from hpo.errors import ConfigError
    from hpo.search_spaces.checks import check_spec

    spec = parse_spec(
        {"name": "b", "objective": "branin", "artifacts": {"models": {"best_k": 1}},
         "params": {"x1": {"type": "float", "low": -5, "high": 10},
                    "x2": {"type": "float", "low": 0, "high": 15}}}
    )  # fmt: skip
    with pytest.raises(ConfigError) as info:
        check_spec(spec, "random", source="b.yaml")
    assert str(info.value).startswith(
        "b.yaml: artifacts.models: the objective 'branin' trains no model to store"
    )
