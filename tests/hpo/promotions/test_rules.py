"""The promotion rules on hand-made front points: which point each picks, ties, an empty front,
and the `--rule` flags (no Prefect, no database)."""

from __future__ import annotations

import pytest

from hpo.errors import ConfigError, StoreStateError
from hpo.promotions.rules import FrontPoint, choose, parse_rule, resolve_rule, score
from hpo.search_spaces.loader import parse_spec
from hpo.search_spaces.schema import ObjectiveSpec, PromotionRuleSpec

OBJECTIVES = (
    ObjectiveSpec(metric="roc_auc", direction="maximize"),
    ObjectiveSpec(metric="model_size_kb", direction="minimize"),
)


def _points(*rows: tuple[int, float, float]) -> list[FrontPoint]:
    return [
        FrontPoint(trial_number=n, values={"roc_auc": a, "model_size_kb": s}) for n, a, s in rows
    ]


FRONT = _points((3, 0.990, 300.0), (5, 0.985, 120.0), (8, 0.970, 40.0))
BEST_AUC = PromotionRuleSpec(rule="constrained_best", primary="roc_auc")
SMALLEST = PromotionRuleSpec(rule="constrained_best", primary="model_size_kb")


def test_constrained_best_takes_the_best_primary_in_its_direction() -> None:
    assert choose(BEST_AUC, FRONT, OBJECTIVES).point.trial_number == 3
    smallest = choose(SMALLEST, FRONT, OBJECTIVES)
    assert smallest.point.trial_number == 8 and smallest.score == 40.0 and smallest.tied == ()


def test_weighted_takes_the_highest_signed_sum() -> None:
    # 1000 * auc - size: 690, 865, 930 -> trial 8; a lighter penalty on size: trial 3.
    heavy = PromotionRuleSpec(rule="weighted", weights={"roc_auc": 1000.0, "model_size_kb": -1.0})
    light = PromotionRuleSpec(rule="weighted", weights={"roc_auc": 1000.0, "model_size_kb": -0.01})
    chosen = choose(heavy, FRONT, OBJECTIVES)
    assert chosen.point.trial_number == 8 and chosen.score == pytest.approx(930.0)
    assert choose(light, FRONT, OBJECTIVES).point.trial_number == 3
    assert score(light, {"roc_auc": 0.5, "model_size_kb": 100.0}) == pytest.approx(499.0)


def test_ties_break_on_the_other_objectives_then_the_trial_number() -> None:
    # Same roc_auc: the smaller model wins, whatever the order; then the lower trial number.
    tied = _points((9, 0.99, 200.0), (4, 0.99, 100.0), (2, 0.99, 100.0), (1, 0.98, 10.0))
    chosen = choose(BEST_AUC, tied, OBJECTIVES)
    assert chosen.point.trial_number == 2 and set(chosen.tied) == {9, 4}
    weights = PromotionRuleSpec(rule="weighted", weights={"roc_auc": 1.0})
    equal = choose(weights, tied, OBJECTIVES)
    assert equal.point.trial_number == 2 and set(equal.tied) == {9, 4}


def test_an_empty_feasible_front_is_a_clear_error() -> None:
    with pytest.raises(StoreStateError, match="feasible Pareto front is empty") as err:
        choose(BEST_AUC, [], OBJECTIVES)
    assert "constraints" in str(err.value)


SPEC = parse_spec(
    {
        "name": "mo",
        "objective": "xgboost",
        "dataset": "breast_cancer",
        "metric": "roc_auc",
        "objectives": [o.model_dump() for o in OBJECTIVES],
        "params": {"max_depth": {"type": "int", "low": 1, "high": 4}},
    }
)


def test_a_front_without_a_rule_names_the_field_and_the_fix() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_rule(SPEC, None, what="study 's'")
    text = str(err.value)
    assert text.startswith("promotion: study 's' has 2 objectives and no promotion rule")
    assert "--rule constrained_best --primary METRIC" in text
    declared = SPEC.model_copy(update={"promotion": SMALLEST})
    assert resolve_rule(declared, None, what="s") == SMALLEST
    assert resolve_rule(declared, BEST_AUC, what="s") == BEST_AUC  # --rule overrides the spec


@pytest.mark.parametrize(
    ("rule", "primary", "weights", "expected"),
    [
        (None, "roc_auc", [], "--rule: --primary and --weight belong to a rule, but no --rule"),
        (
            "weighted",
            None,
            ["roc_auc"],
            "--weight: --weight must be METRIC=NUMBER, but got 'roc_auc'",
        ),
        ("weighted", None, ["roc_auc=x"], "--weight: --weight must be METRIC=NUMBER"),
        ("weighted", None, [], "--rule: rule `weighted` takes `weights: {METRIC: WEIGHT, ...}`"),
        ("constrained_best", None, [], "--rule: rule `constrained_best` takes `primary: METRIC`"),
        ("weighted", None, ["roc_auc=0"], "--rule: rule `weighted` needs a non-zero weight"),
    ],
)
def test_bad_rule_flags(
    rule: str | None, primary: str | None, weights: list[str], expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_rule(rule, primary, weights)
    assert str(err.value).startswith(expected) and "fix:" in str(err.value)


def test_rule_flags_and_a_rule_on_no_objective() -> None:
    assert parse_rule(None, None, []) is None
    weighted = parse_rule("weighted", None, ["roc_auc=1", "model_size_kb=-0.01"])
    assert weighted == PromotionRuleSpec(
        rule="weighted", weights={"roc_auc": 1.0, "model_size_kb": -0.01}
    )
    unknown = parse_rule("weighted", None, ["latency_ms=-1"])
    with pytest.raises(ConfigError) as err:
        resolve_rule(SPEC, unknown, what="study 's'")
    assert str(err.value).startswith(
        "--weight: the promotion rule names 'latency_ms', which is not an objective of study 's' "
        "(roc_auc, model_size_kb)"
    )
