"""A spec's objectives and constraints as a study sees them: the objective names and directions,
the metrics an objective is known to report (checked before anything runs), and what one trial's
result becomes (the study's values, the reported metrics, the constraint values). Core layer.

A spec has one objective (``direction``, or the metric's own) or several (``objectives:``, each
``{metric, direction}``). An objective returns a float (one objective: it is the spec's ``metric``,
or the one declared objective), a dict of named values, or a tuple in the declared order. The
built-in model trainers return their score and report ``latency_ms``, ``model_size_kb`` and
``fit_time_s`` in ``context.metrics`` (:mod:`hpo.workers.objectives.costs`); objectives and
constraints may name any of them. A constraint's value follows Optuna's convention (<= 0 means
feasible) and is stored on the trial the way Optuna 5's ``Trial.set_constraint`` stores it (system
attribute ``constraints:<metric> <op> <bound>``), where Optuna's samplers (TPE, GP, NSGA-II/III
read ``FrozenTrial.constraints``: ``constraints_func`` is deprecated since Optuna 5.0) and the
Pareto front (:mod:`hpo.pareto`) find it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from hpo.errors import ConfigError
from hpo.search_spaces.schema import Direction, SearchSpaceSpec
from hpo.workers.metrics import get_metric
from hpo.workers.objectives.costs import SECONDARY_METRICS
from hpo.workers.objectives.pareto_problems import PARETO_PROBLEMS
from hpo.workers.objectives.registry import is_builtin
from hpo.workers.objectives.synthetic import is_synthetic

#: The prefix of the system attributes a trial's constraint values are kept in (Optuna's own
#: ``optuna.study._constrained_optimization._CONSTRAINTS_KEY`` + ``:``, as ``set_constraint``).
CONSTRAINTS_KEY = "constraints"
#: The user attribute a trial's reported metrics (objectives and secondary ones) are kept in.
METRICS_ATTR = "metrics"
_FIX_RETURN = (
    "return a dict keyed by the metrics under `objectives`, or a tuple with one value per "
    "objective in their order"
)


class TrialValues(BaseModel):
    """One trial's result as the study records it."""

    model_config = ConfigDict(frozen=True)

    values: tuple[float, ...]
    metrics: dict[str, float]
    #: Constraint text (``model_size_kb <= 500``) -> value (<= 0: satisfied).
    constraints: dict[str, float]


def objective_names(spec: SearchSpaceSpec) -> list[str]:
    """The names of the study's values, in order (also its metric names in optuna-dashboard)."""
    if spec.objectives is not None:
        return [o.metric for o in spec.objectives]
    return [spec.metric or spec.objective]


def study_directions(spec: SearchSpaceSpec) -> list[Direction]:
    """One direction per objective: declared, or (one objective) the metric's own, or minimize."""
    if spec.objectives is not None:
        return [o.direction for o in spec.objectives]
    if spec.direction is not None:
        return [spec.direction]
    if spec.metric is not None:
        return [get_metric(spec.metric).direction]
    return ["minimize"]


def known_metrics(spec: SearchSpaceSpec) -> set[str] | None:
    """The metrics ``spec``'s objective reports, when that is known before it runs (built-ins);
    None for a user's function (its result is checked trial by trial)."""
    if spec.objective in PARETO_PROBLEMS:
        return set(PARETO_PROBLEMS[spec.objective].metrics)
    if not is_builtin(spec.objective):
        return None
    if is_synthetic(spec.objective):
        return set(objective_names(spec)[:1])  # one value, whatever it is called
    return {spec.metric or "", *SECONDARY_METRICS} - {""}


def check_objectives(spec: SearchSpaceSpec, *, source: str = "<spec>") -> None:
    """Refuse, before anything runs, objectives and constraints the objective cannot report,
    and a pruner on several objectives (Optuna prunes single-objective studies only)."""
    known = known_metrics(spec)
    names = objective_names(spec)
    if spec.objective in PARETO_PROBLEMS and spec.objectives is None:
        raise ConfigError(
            f"the built-in objective {spec.objective!r} returns several values "
            f"({', '.join(sorted(known or ()))}), but the spec declares one objective",
            where=f"{source}: objectives",
            fix="list them under `objectives:` with a direction each "
            f"(see search_spaces/specs/{spec.objective}.yaml)",
        )
    if known is not None:
        fields = [(f"objectives[{i}].metric", n) for i, n in enumerate(names)]
        if spec.objectives is None:
            fields = []
        fields += [(f"constraints[{i}].metric", c.metric) for i, c in enumerate(spec.constraints)]
        for field, name in fields:
            if name not in known:
                raise ConfigError(
                    f"the objective {spec.objective!r} does not report {name!r}; it reports "
                    f"{', '.join(sorted(known))}",
                    where=f"{source}: {field}",
                    fix="name one of those metrics (the built-in trainers' score is `metric`)",
                )
    if spec.multi_objective and spec.artifacts.models is not None:
        raise ConfigError(
            "`artifacts.models` keeps the models of the best trials by one value, but the spec "
            "declares several objectives",
            where=f"{source}: artifacts.models",
            fix="drop `artifacts.models` (save models from the objective with "
            "`context.save_artifact`) or declare one objective",
        )
    if spec.multi_objective and spec.pruner.name != "none":
        raise ConfigError(
            f"pruner {spec.pruner.name!r} cannot prune a study of several objectives "
            "(Optuna prunes on one intermediate value)",
            where=f"{source}: pruner.name",
            fix="set `pruner: {name: none}` or declare one objective",
        )


def trial_values(result: Any, reported: Mapping[str, float], spec: SearchSpaceSpec) -> TrialValues:
    """Map an objective's ``result`` (and the metrics it ``reported`` in ``context.metrics``) to
    the study's values; :class:`~hpo.errors.ConfigError` naming the field when they do not fit
    the spec (the trial then fails with that reason)."""
    names = objective_names(spec)
    metrics = {str(k): _number(k, v) for k, v in reported.items()}
    if isinstance(result, Mapping):
        metrics.update({str(k): _number(k, v) for k, v in result.items()})
    elif isinstance(result, Sequence) and not isinstance(result, str | bytes):
        if len(result) != len(names):
            raise ConfigError(
                f"the objective returned {len(result)} value(s), but the spec declares "
                f"{len(names)} objective(s) ({', '.join(names)})",
                where="objectives",
                fix=_FIX_RETURN,
            )
        metrics.update({n: _number(n, v) for n, v in zip(names, result, strict=True)})
    elif spec.metric is not None and (spec.objectives is None or spec.metric in names):
        metrics[spec.metric] = _number(spec.metric, result)
    elif len(names) == 1:
        metrics[names[0]] = _number(names[0], result)
    else:
        raise ConfigError(
            f"the objective returned one value, but the spec declares {len(names)} objectives "
            f"({', '.join(names)})",
            where="objectives",
            fix=_FIX_RETURN,
        )
    values = []
    for i, name in enumerate(names):
        if name not in metrics:
            raise ConfigError(
                f"the objective did not report {name!r} (it reported "
                f"{', '.join(sorted(metrics)) or 'nothing'})",
                where=f"objectives[{i}].metric" if spec.objectives else "metric",
                fix=_FIX_RETURN,
            )
        values.append(metrics[name])
    constraints: dict[str, float] = {}
    for i, bound in enumerate(spec.constraints):
        if bound.metric not in metrics:
            raise ConfigError(
                f"constraint `{bound}` is on {bound.metric!r}, which the objective did not "
                f"report (it reported {', '.join(sorted(metrics))})",
                where=f"constraints[{i}].metric",
                fix="bound a metric the objective reports, or report it (a dict key)",
            )
        constraints[str(bound)] = bound.violation(metrics[bound.metric])
    return TrialValues(values=tuple(values), metrics=metrics, constraints=constraints)


def _number(name: Any, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(
            f"the objective returned {type(value).__name__} {value!r} for {name!r}, not a number",
            fix=_FIX_RETURN,
        )
    return float(value)


def is_finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)
