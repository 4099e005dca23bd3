"""Users' own objectives of every shape, loaded by path in the registry tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpo.workers.objectives import TrialContext


def one_arg(params: Mapping[str, Any]) -> float:
    return float(params["x"]) ** 2


def two_args(params: Mapping[str, Any], context: TrialContext) -> float:
    context.report(1, float(params["x"]))
    return float(params["x"]) + context.trial_number


def optional_context(params: Mapping[str, Any], context: TrialContext | None = None) -> int:
    return 3 if context is not None else -1


def three_args(params: Mapping[str, Any], context: TrialContext, extra: int) -> float:
    return 0.0


def required_keyword(params: Mapping[str, Any], *, scale: float) -> float:
    return scale


def var_args(*args: Any) -> float:
    return 0.0


def returns_text(params: Mapping[str, Any]) -> str:
    return "0.5"


class CallableObjective:
    def __call__(self, params: Mapping[str, Any]) -> float:
        return 7.0


callable_instance = CallableObjective()
not_callable = 42
