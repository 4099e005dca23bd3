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


BAD: list[tuple[str, dict[str, Any], str]] = [
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
