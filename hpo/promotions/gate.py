"""The promotion gate's decision: plain arithmetic, no I/O.

A candidate replaces the champion only if its re-evaluated score beats the champion's,
re-evaluated on the same seeds and the same data, by at least ``margin`` (in the metric's units,
in the study's direction). With no champion yet, the candidate is promoted.

A study of several objectives (:func:`decide_front`) compares by the promotion rule's score
(:mod:`hpo.promotions.rules`) and promotes only a candidate whose re-evaluated point still meets
the constraints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hpo.promotions.rules import score, score_direction
from hpo.search_spaces.schema import Direction, PromotionRuleSpec

Decision = Literal["promoted", "rejected", "unchanged"]


@dataclass(frozen=True)
class GateDecision:
    decision: Decision
    reason: str


def decide(
    candidate: float,
    champion: float | None,
    *,
    direction: str,
    margin: float,
    same_config: bool = False,
) -> GateDecision:
    """Promote, reject or keep, with the reason in plain words and numbers."""
    if margin < 0:
        raise ValueError(f"`margin >= 0` must hold, but got margin={margin}")
    if same_config:
        return GateDecision("unchanged", "the candidate already is the champion")
    if champion is None:
        return GateDecision("promoted", f"first champion (re-evaluated score {candidate:.6g})")
    gain = candidate - champion if direction == "maximize" else champion - candidate
    words = "higher" if direction == "maximize" else "lower"
    if gain >= margin:
        return GateDecision(
            "promoted",
            f"re-evaluated score {candidate:.6g} beats the champion's {champion:.6g} by "
            f"{gain:.6g} ({words} is better), at least the margin {margin:g}",
        )
    return GateDecision(
        "rejected",
        f"re-evaluated score {candidate:.6g} does not beat the champion's {champion:.6g} by "
        f"the margin {margin:g} ({words} is better; gain {gain:.6g})",
    )


def decide_front(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    *,
    rule: PromotionRuleSpec,
    directions: Mapping[str, Direction],
    violations: Mapping[str, float],
    margin: float,
    same_config: bool = False,
) -> GateDecision:
    """:func:`decide` for a point of a Pareto front: ``candidate`` and ``champion`` are their
    re-evaluated values per objective (same seeds, same data), ``violations`` the candidate's
    re-evaluated constraint values (> 0: broken). Promoted only if the candidate is feasible and
    beats the champion by the rule's score by at least ``margin``; the reason gives every
    objective of both and names those the candidate is worse on."""
    if same_config:
        return decide(0.0, None, direction="maximize", margin=margin, same_config=True)
    values = _side_by_side(candidate, champion, directions)
    broken = [f"{text} (by {v:.6g})" for text, v in violations.items() if v > 0]
    if broken:
        return GateDecision(
            "rejected",
            f"the re-evaluated candidate breaks the constraint(s) {', '.join(broken)}; {values}",
        )
    verdict = decide(
        score(rule, candidate),
        score(rule, champion) if champion is not None else None,
        direction=score_direction(rule, directions),
        margin=margin,
    )
    return GateDecision(verdict.decision, f"rule {rule.rule}: {verdict.reason}; {values}")


def _side_by_side(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    directions: Mapping[str, Direction],
) -> str:
    if champion is None:
        return "candidate " + ", ".join(f"{m} {candidate[m]:.6g}" for m in directions)
    pairs = ", ".join(f"{m} {candidate[m]:.6g} vs {champion[m]:.6g}" for m in directions)
    worse = [
        m
        for m, d in directions.items()
        if (candidate[m] < champion[m] if d == "maximize" else candidate[m] > champion[m])
    ]
    tail = f"; worse on {', '.join(worse)}" if worse else "; no worse on any objective"
    return f"candidate vs champion: {pairs}{tail}"
