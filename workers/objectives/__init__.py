"""Objectives: built-in model trainers and users' own functions, behind one call shape."""

from hpo.workers.objectives.base import EvaluationSetup, Objective, Params, TrialContext
from hpo.workers.objectives.registry import (
    BUILTIN_OBJECTIVES,
    builtin_objective_names,
    get_builtin_objective,
    is_builtin,
    load_user_objective,
    resolve_objective,
)

__all__ = [
    "BUILTIN_OBJECTIVES",
    "EvaluationSetup",
    "Objective",
    "Params",
    "TrialContext",
    "builtin_objective_names",
    "get_builtin_objective",
    "is_builtin",
    "load_user_objective",
    "resolve_objective",
]
