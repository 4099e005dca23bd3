"""Finding an objective by name: the built-ins, or a user's ``package.module:function``.

Importing this module imports none of the model libraries: each built-in lives in its own
module, imported when it is looked up (:func:`get_builtin_objective`) or first called (the
values of :data:`BUILTIN_OBJECTIVES`), so a worker without torch can still run xgboost.
"""

from __future__ import annotations

import importlib
import inspect
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hpo.errors import ConfigError, ObjectiveImportError, UnknownNameError
from hpo.workers.objectives.base import Objective, ObjectiveResult, Params, TrialContext

# name -> (module, function)
_BUILTINS: dict[str, tuple[str, str]] = {
    "xgboost": ("hpo.workers.objectives.xgboost_objective", "xgboost_objective"),
    "lightgbm": ("hpo.workers.objectives.lightgbm_objective", "lightgbm_objective"),
    "torch_mlp": ("hpo.workers.objectives.torch_mlp", "torch_mlp_objective"),
    # Benchmark functions with known optima (no dataset, no metric): see synthetic.py.
    "branin": ("hpo.workers.objectives.synthetic", "branin"),
    "hartmann6": ("hpo.workers.objectives.synthetic", "hartmann6"),
    "rosenbrock": ("hpo.workers.objectives.synthetic", "rosenbrock"),
    "six_hump_camel": ("hpo.workers.objectives.synthetic", "six_hump_camel"),
    "ackley": ("hpo.workers.objectives.synthetic", "ackley"),
    # Two objectives with known Pareto fronts: see pareto_problems.py.
    "zdt1": ("hpo.workers.objectives.pareto_problems", "zdt1"),
    "zdt2": ("hpo.workers.objectives.pareto_problems", "zdt2"),
}

_USER_PATH = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<attr>[A-Za-z_]\w*)$")


def builtin_objective_names() -> list[str]:
    """The built-in objective names, sorted."""
    return sorted(_BUILTINS)


def _import_builtin(name: str) -> Objective:
    module, attr = _BUILTINS[name]
    fn: Objective = getattr(importlib.import_module(module), attr)
    return fn


def _lazy(name: str) -> Objective:
    def objective(params: Params, context: TrialContext) -> ObjectiveResult:
        return _import_builtin(name)(params, context)

    objective.__name__ = objective.__qualname__ = f"{name}_objective"
    objective.__doc__ = f"Built-in objective {name!r} (its module is imported on first call)."
    return objective


BUILTIN_OBJECTIVES: dict[str, Objective] = {name: _lazy(name) for name in _BUILTINS}


def get_builtin_objective(name: str) -> Objective:
    """The built-in objective ``name``, its module imported now.

    Raises :class:`~hpo.errors.UnknownNameError` for any other name.
    """
    if name not in _BUILTINS:
        raise UnknownNameError(
            f"unknown built-in objective {name!r}",
            fix=f"use one of: {', '.join(builtin_objective_names())}; a user objective is "
            "given as `package.module:function`",
        )
    return _import_builtin(name)


def is_builtin(name: str) -> bool:
    """True when ``name`` is a built-in objective (not a ``package.module:function``)."""
    return name in _BUILTINS


def resolve_objective(name: str) -> Callable[[Params, TrialContext], ObjectiveResult]:
    """A built-in objective by name, or a user objective given as ``package.module:function``.

    Errors are those of :func:`get_builtin_objective` and :func:`load_user_objective`.
    """
    if ":" in name:
        return load_user_objective(name)
    return get_builtin_objective(name)


def load_user_objective(path: str) -> Callable[[Params, TrialContext], ObjectiveResult]:
    """Import a user objective given as ``package.module:function``.

    The function takes ``(params)`` or ``(params, context)``; the result is always called as
    ``(params, context)`` and returns its value as a float, or (several objectives) a dict of
    named numbers or a tuple of numbers, checked against the spec by the trial runner.
    """
    match = _USER_PATH.match(path.strip())
    if match is None:
        raise ConfigError(
            f"a user objective must be given as 'package.module:function', but got {path!r}",
            fix="write the importable module path, a colon, then the function name, "
            "e.g. 'my_project.objectives:train'",
        )
    module_name, attr = match["module"], match["attr"]
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ObjectiveImportError(
            f"cannot import user objective {path!r}: {type(exc).__name__}: {exc}",
            fix=f"check the module is importable: python -c 'import {module_name}'",
        ) from exc
    if not hasattr(module, attr):
        raise ObjectiveImportError(
            f"cannot import user objective {path!r}: module {module_name!r} has no "
            f"attribute {attr!r}",
            fix=f"define {attr}(params, context) in {module_name}, or fix the function name",
        )
    fn = getattr(module, attr)
    if not callable(fn):
        raise ConfigError(
            f"user objective {path!r} must be callable, but it is a {type(fn).__name__}",
            fix=f"make {attr} a function taking (params) or (params, context)",
        )
    takes_context = _takes_context(path, fn)

    def objective(params: Params, context: TrialContext) -> ObjectiveResult:
        value = fn(params, context) if takes_context else fn(params)
        if isinstance(value, Mapping) or (
            isinstance(value, Sequence) and not isinstance(value, str | bytes)
        ):
            return value  # several values: checked against the spec's objectives
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(
                f"user objective {path!r} must return a number, but returned "
                f"{type(value).__name__} {value!r}",
                fix="return one float (the value to minimise or maximise), or for several "
                "objectives a dict of named values or a tuple in the spec's order",
            )
        return float(value)

    objective.__name__ = objective.__qualname__ = attr
    objective.__doc__ = getattr(fn, "__doc__", None)
    return objective


def _takes_context(path: str, fn: Callable[..., Any]) -> bool:
    """True for ``fn(params, context)``, False for ``fn(params)``; ConfigError otherwise."""
    fix = "define the function as f(params) or f(params, context)"
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the signature of user objective {path!r} ({exc})", fix=fix
        ) from exc
    kinds = inspect.Parameter
    params = list(signature.parameters.values())
    positional = [
        p for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    required_keyword = [
        p.name for p in params if p.kind is kinds.KEYWORD_ONLY and p.default is p.empty
    ]
    var_positional = any(p.kind is kinds.VAR_POSITIONAL for p in params)
    if var_positional or required_keyword or len(positional) not in (1, 2):
        raise ConfigError(
            f"user objective {path!r} must take one positional parameter (params) or two "
            f"(params, context), but its signature is {_describe(fn, signature)}",
            fix=fix,
        )
    return len(positional) == 2


def _describe(fn: Callable[..., Any], signature: inspect.Signature) -> str:
    return f"{getattr(fn, '__name__', type(fn).__name__)}{signature}"
