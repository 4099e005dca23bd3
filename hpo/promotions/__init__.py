"""Promotion of the best configuration to the next pipeline stage: the registry (Postgres), the
gate (re-evaluation and decision) and the ``hpo.config.promoted`` event."""

from hpo.promotions.gate import GateDecision, decide
from hpo.promotions.registry import Promotion

__all__ = ["GateDecision", "Promotion", "decide"]
