"""Objectives: built-in model trainers and users' own functions, behind one call shape."""

from hpo.workers.objectives.base import EvaluationSetup, Objective, Params, TrialContext

__all__ = ["EvaluationSetup", "Objective", "Params", "TrialContext"]
