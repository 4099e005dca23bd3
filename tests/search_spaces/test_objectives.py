"""`objectives:` and `constraints:` in a spec file: what is valid, and each mistake as one error
naming the file, the field, the rule and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo.errors import SpecError
from hpo.search_spaces.loader import load_spec

BASE: dict[str, Any] = {
    "name": "mo",
    "objective": "xgboost",
    "dataset": "breast_cancer",
    "metric": "accuracy",
    "params": {"max_depth": {"type": "int", "low": 1, "high": 4}},
}
TWO = [
    {"metric": "accuracy", "direction": "maximize"},
    {"metric": "latency_ms", "direction": "minimize"},
]


def _write(tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "mo.yaml"
    path.write_text(yaml.safe_dump({**BASE, **changes}))
    return path


def test_objectives_and_constraints_load(tmp_path: Path) -> None:
    spec = load_spec(
        _write(
            tmp_path,
            objectives=TWO,
            constraints=[{"metric": "model_size_kb", "op": "<=", "value": 500}],
        )
    )
    assert spec.multi_objective
    assert [o.metric for o in spec.objectives or ()] == ["accuracy", "latency_ms"]
    assert str(spec.constraints[0]) == "model_size_kb <= 500"
    assert spec.constraints[0].violation(520.0) == 20.0


def test_the_single_direction_form_stays_valid(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, direction="maximize"))
    assert not spec.multi_objective and spec.objectives is None and spec.constraints == ()
    one = load_spec(_write(tmp_path, objectives=TWO[:1]))  # one entry: one objective
    assert not one.multi_objective


def test_a_promotion_rule_loads(tmp_path: Path) -> None:
    best = load_spec(
        _write(
            tmp_path, objectives=TWO, promotion={"rule": "constrained_best", "primary": "accuracy"}
        )
    )
    assert best.promotion is not None and best.promotion.primary == "accuracy"
    assert str(best.promotion) == "constrained_best (best accuracy on the feasible front)"
    weighted = load_spec(
        _write(
            tmp_path,
            objectives=TWO,
            promotion={"rule": "weighted", "weights": {"accuracy": 1.0, "latency_ms": -0.01}},
        )
    )
    assert weighted.promotion is not None
    assert (
        str(weighted.promotion)
        == "weighted (highest 1*accuracy -0.01*latency_ms on the feasible front)"
    )


BAD: list[tuple[str, dict[str, Any], str]] = [
    (
        "promotion rule on one objective",
        {"promotion": {"rule": "constrained_best", "primary": "accuracy"}},
        "`promotion` picks a point of a Pareto front, but the spec declares one objective",
    ),
    (
        "unknown promotion rule",
        {"objectives": TWO, "promotion": {"rule": "best"}},
        "promotion.rule: Input should be 'constrained_best' or 'weighted'",
    ),
    (
        "primary not an objective",
        {"objectives": TWO, "promotion": {"rule": "constrained_best", "primary": "f1"}},
        "`promotion.primary` names 'f1', which is not an objective (accuracy, latency_ms)",
    ),
    (
        "weighted without weights",
        {"objectives": TWO, "promotion": {"rule": "weighted", "primary": "accuracy"}},
        "rule `weighted` takes `weights: {METRIC: WEIGHT, ...}`",
    ),
    (
        "weight on a metric that is not an objective",
        {"objectives": TWO, "promotion": {"rule": "weighted", "weights": {"ram_mb": -1}}},
        "`promotion.weights.ram_mb` names 'ram_mb', which is not an objective",
    ),
    ("empty objectives", {"objectives": []}, "`objectives` must list at least one"),
    (
        "direction and objectives",
        {"objectives": TWO, "direction": "maximize"},
        "`direction` and `objectives` cannot both be given",
    ),
    ("repeated metric", {"objectives": [dict(TWO[0]), dict(TWO[0])]}, "must name each metric once"),
    (
        "bad direction",
        {"objectives": [{"metric": "accuracy", "direction": "up"}]},
        "objectives[0].direction: Input should be 'minimize' or 'maximize'",
    ),
    (
        "missing direction",
        {"objectives": [{"metric": "accuracy"}]},
        "objectives[0].direction: this field is required",
    ),
    (
        "bad operator",
        {"constraints": [{"metric": "latency_ms", "op": "<", "value": 2}]},
        "constraints[0].op: Input should be '<=' or '>='",
    ),
    (
        "infinite bound",
        {"constraints": [{"metric": "latency_ms", "op": "<=", "value": float("inf")}]},
        "constraints[0].value: Input should be a finite number",
    ),
    (
        "unknown constraint field",
        {"constraints": [{"metric": "latency_ms", "op": "<=", "value": 2, "hard": True}]},
        "constraints[0].hard: unknown field",
    ),
]


@pytest.mark.parametrize(("case", "changes", "expected"), BAD, ids=[c[0] for c in BAD])
def test_bad_objectives_and_constraints(
    tmp_path: Path, case: str, changes: dict[str, Any], expected: str
) -> None:
    path = _write(tmp_path, **changes)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    text = str(err.value)
    assert str(path) in text and expected in text and "fix:" in text
