from __future__ import annotations

import pytest

from hpo.promotions.gate import decide, decide_front
from hpo.search_spaces.schema import Direction, PromotionRuleSpec


def test_first_candidate_becomes_champion() -> None:
    verdict = decide(0.9, None, direction="maximize", margin=0.01)
    assert verdict.decision == "promoted"
    assert "first champion" in verdict.reason


@pytest.mark.parametrize(
    ("candidate", "champion", "direction", "margin", "expected"),
    [
        (0.95, 0.90, "maximize", 0.01, "promoted"),
        (0.905, 0.90, "maximize", 0.01, "rejected"),  # better, but not by the margin
        (0.85, 0.90, "maximize", 0.0, "rejected"),
        (0.10, 0.20, "minimize", 0.05, "promoted"),
        (0.18, 0.20, "minimize", 0.05, "rejected"),
        (0.20, 0.20, "minimize", 0.0, "promoted"),  # a tie meets a zero margin
    ],
)
def test_margin_in_the_study_direction(
    candidate: float, champion: float, direction: str, margin: float, expected: str
) -> None:
    verdict = decide(candidate, champion, direction=direction, margin=margin)
    assert verdict.decision == expected
    assert f"{champion:.6g}" in verdict.reason


def test_same_config_is_unchanged() -> None:
    verdict = decide(0.9, 0.9, direction="maximize", margin=0.0, same_config=True)
    assert verdict.decision == "unchanged"


def test_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="`margin >= 0` must hold"):
        decide(1.0, 0.5, direction="maximize", margin=-1)


DIRECTIONS: dict[str, Direction] = {"roc_auc": "maximize", "model_size_kb": "minimize"}
BEST_AUC = PromotionRuleSpec(rule="constrained_best", primary="roc_auc")
FEASIBLE = {"model_size_kb <= 500": -100.0}


def test_a_front_point_that_wins_on_the_rule_but_loses_elsewhere_says_so() -> None:
    verdict = decide_front(
        {"roc_auc": 0.99, "model_size_kb": 400.0},
        {"roc_auc": 0.98, "model_size_kb": 100.0},
        rule=BEST_AUC, directions=DIRECTIONS, violations=FEASIBLE, margin=0.005,
    )  # fmt: skip
    assert verdict.decision == "promoted"
    assert verdict.reason.startswith("rule constrained_best: re-evaluated score 0.99 beats")
    assert (
        "roc_auc 0.99 vs 0.98, model_size_kb 400 vs 100; worse on model_size_kb" in verdict.reason
    )


def test_a_front_point_below_the_margin_or_infeasible_is_rejected() -> None:
    weighted = PromotionRuleSpec(rule="weighted", weights={"roc_auc": 1.0, "model_size_kb": -0.001})
    close = decide_front(
        {"roc_auc": 0.99, "model_size_kb": 100.0},
        {"roc_auc": 0.98, "model_size_kb": 100.0},
        rule=weighted, directions=DIRECTIONS, violations=FEASIBLE, margin=0.02,
    )  # fmt: skip
    assert close.decision == "rejected" and "does not beat the champion's" in close.reason
    assert close.reason.endswith("no worse on any objective")
    broken = decide_front(
        {"roc_auc": 0.999, "model_size_kb": 520.0},
        None,
        rule=BEST_AUC, directions=DIRECTIONS, violations={"model_size_kb <= 500": 20.0}, margin=0.0,
    )  # fmt: skip
    assert broken.decision == "rejected"
    assert broken.reason == (
        "the re-evaluated candidate breaks the constraint(s) model_size_kb <= 500 (by 20); "
        "candidate roc_auc 0.999, model_size_kb 520"
    )
    first = decide_front(
        {"roc_auc": 0.9, "model_size_kb": 50.0}, None,
        rule=BEST_AUC, directions=DIRECTIONS, violations=FEASIBLE, margin=0.0,
    )  # fmt: skip
    assert first.decision == "promoted" and "first champion" in first.reason
    same = decide_front(
        {}, None, rule=BEST_AUC, directions=DIRECTIONS, violations={}, margin=0.0, same_config=True
    )
    assert same.decision == "unchanged"
