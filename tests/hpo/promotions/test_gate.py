from __future__ import annotations

import pytest

from hpo.promotions.gate import decide


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
