"""The promotion gate's decision: plain arithmetic, no I/O.

A candidate replaces the champion only if its re-evaluated score beats the champion's,
re-evaluated on the same seeds and the same data, by at least ``margin`` (in the metric's units,
in the study's direction). With no champion yet, the candidate is promoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
