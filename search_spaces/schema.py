"""The declarative search-space schema: frozen pydantic models validated when built.

A spec file (YAML) names what to tune (``objective``), on what (``dataset``, ``metric``,
``cv_folds``, ``seed``), the space (``params``, an optional explicit ``grid``), and how
(``sampler``, ``pruner``, ``budget``). See ``search_spaces/README.md`` for an annotated example.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Direction = Literal["minimize", "maximize"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
MAX_TRIALS = 1_000_000  # the largest budget a study may have
MAX_GRID_POINTS = 100_000  # the largest grid a study may enqueue
MAX_SEED = 2**32 - 1  # numpy's seed range, which every Optuna sampler uses
MAX_STUDY_NAME = 200


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IntParam(_Frozen):
    """An integer in ``[low, high]``, optionally on a log scale or a step."""

    type: Literal["int"]
    low: int
    high: int
    step: int = Field(default=1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise ValueError(
                f"`log: true` requires `step: 1`, but got step={self.step}; "
                "drop `step` or set `log: false`"
            )
        return self

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )

    def grid_size(self) -> int:
        return (self.high - self.low) // self.step + 1

    def grid_values(self) -> list[Any]:
        return list(range(self.low, self.high + 1, self.step))


class FloatParam(_Frozen):
    """A float in ``[low, high]``, optionally on a log scale or a step."""

    type: Literal["float"]
    low: float
    high: float
    step: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step is not None:
            raise ValueError(
                f"`log: true` cannot be combined with `step` (got step={self.step}); "
                "drop one of them"
            )
        return self

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        k = (value - self.low) / self.step
        return math.isclose(k, round(k), abs_tol=1e-9)

    def grid_size(self) -> int:
        if self.step is None:
            raise ValueError(
                "a float param needs `step` to be searched by the grid sampler; "
                "add `step`, or list its values under `grid:`"
            )
        return int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1

    def grid_values(self) -> list[Any]:
        n = self.grid_size()
        assert self.step is not None  # grid_size() raised otherwise
        return [round(self.low + i * self.step, 12) for i in range(n)]


class CategoricalParam(_Frozen):
    """One of a list of choices (strings, numbers, booleans or null)."""

    type: Literal["categorical"]
    choices: tuple[str | int | float | bool | None, ...]

    @field_validator("choices")
    @classmethod
    def _non_empty(cls, v: tuple[Any, ...]) -> tuple[Any, ...]:
        if not v:
            raise ValueError("`choices` must list at least one value, but it is empty")
        if len(set(map(repr, v))) != len(v):
            raise ValueError(f"`choices` must not repeat values, but got {list(v)}")
        return v

    def contains(self, value: Any) -> bool:
        return any(type(value) is type(c) and value == c for c in self.choices)

    def grid_size(self) -> int:
        return len(self.choices)

    def grid_values(self) -> list[Any]:
        return list(self.choices)


Param = Annotated[IntParam | FloatParam | CategoricalParam, Field(discriminator="type")]


def _check_range(low: float, high: float, log: bool) -> None:
    for bound, value in (("low", low), ("high", high)):
        if not math.isfinite(value):
            raise ValueError(f"`{bound}` must be a finite number, but got {value}; give a number")
    if low > high:
        raise ValueError(f"`low <= high` must hold, but got low={low}, high={high}; swap them")
    if log and low <= 0:
        raise ValueError(
            f"`log: true` needs `low > 0`, but got low={low}; raise `low` or set `log: false`"
        )


class Budget(_Frozen):
    """How much a study may spend. ``n_trials`` counts the study's finished trials in total
    (COMPLETE or PRUNED), across every worker and every run that resumes it."""

    n_trials: int = Field(default=50, ge=1, le=MAX_TRIALS)
    timeout_s: float | None = Field(default=None, gt=0)
    max_failed_trials: int | None = Field(
        default=None,
        ge=0,
        description="Stop when this many trials failed (default: n_trials).",
    )


class PrunerSpec(_Frozen):
    """An Optuna pruner by name; see :mod:`hpo.samplers` for the names."""

    name: Literal["none", "median", "successive_halving", "hyperband"] = "none"
    options: dict[str, Any] = Field(default_factory=dict)
    metric: str | None = Field(
        default=None,
        description="Metric the built-in objectives score intermediate values with (default: "
        "the spec's `metric`), oriented like it; e.g. `log_loss` for an `accuracy` study.",
    )


class ObjectiveSpec(_Frozen):
    """One objective of a study: a metric the objective reports, and which way is better."""

    metric: str = Field(min_length=1, max_length=100)
    direction: Direction


class ConstraintSpec(_Frozen):
    """A bound on a reported metric (``{metric: model_size_kb, op: "<=", value: 500}``); a trial
    that breaks it is infeasible: it never enters the Pareto front."""

    metric: str = Field(min_length=1, max_length=100)
    op: Literal["<=", ">="]
    value: float = Field(allow_inf_nan=False)

    def violation(self, reported: float) -> float:
        """Optuna's convention: <= 0 is feasible, the amount above 0 is by how much it fails."""
        return reported - self.value if self.op == "<=" else self.value - reported

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


class PromotionRuleSpec(_Frozen):
    """How ``hpo promote`` picks one point of a study's feasible Pareto front (several objectives):

    * ``{rule: constrained_best, primary: METRIC}``: the front point best on ``primary`` (in its
      direction); the constraints already hold on every front point. Ties: the other objectives
      in their declared order, then the lowest trial number.
    * ``{rule: weighted, weights: {METRIC: W, ...}}``: the front point with the highest
      ``sum(W * value)`` (signed weights: a negative weight penalises, e.g. ``latency_ms: -0.01``);
      objectives without a weight count 0. Ties: the lowest trial number.
    """

    rule: Literal["constrained_best", "weighted"]
    primary: str | None = Field(default=None, description="constrained_best: the metric to best.")
    weights: dict[str, Annotated[float, Field(allow_inf_nan=False)]] | None = Field(
        default=None, description="weighted: a signed weight per objective (higher sum wins)."
    )

    @model_validator(mode="after")
    def _fields_of_the_rule(self) -> PromotionRuleSpec:
        if self.rule == "constrained_best":
            if self.primary is None or self.weights is not None:
                raise ValueError(
                    "rule `constrained_best` takes `primary: METRIC` (one of the `objectives`) "
                    "and no `weights`"
                )
        elif self.weights is None or not self.weights or self.primary is not None:
            raise ValueError(
                "rule `weighted` takes `weights: {METRIC: WEIGHT, ...}` (at least one, on the "
                "`objectives`) and no `primary`"
            )
        elif all(w == 0 for w in self.weights.values()):
            raise ValueError("rule `weighted` needs a non-zero weight; give one")
        return self

    def unknown_metric(self, objectives: list[str]) -> tuple[str, str] | None:
        """``(field, metric)`` of the first metric the rule names that is not an objective."""
        if self.primary is not None and self.primary not in objectives:
            return "primary", self.primary
        for name in self.weights or {}:
            if name not in objectives:
                return f"weights.{name}", name
        return None

    def __str__(self) -> str:
        if self.rule == "constrained_best":
            return f"constrained_best (best {self.primary} on the feasible front)"
        terms = " ".join(f"{w:+g}*{m}" for m, w in (self.weights or {}).items())
        return f"weighted (highest {terms.lstrip('+')} on the feasible front)"


class ModelArtifacts(_Frozen):
    """Keep the trained models of the study's best trials in the artifact store."""

    best_k: int = Field(
        default=3, ge=1, le=1000, description="How many of the best trials keep their model."
    )


class ArtifactsSpec(_Frozen):
    """What the built-in objectives store per trial (docs/models.md)."""

    models: ModelArtifacts | None = Field(
        default=None, description="Store each completed trial's model; keep the best k."
    )


class SearchSpaceSpec(_Frozen):
    """A whole spec file."""

    name: str = Field(description="Default study name.")
    description: str = ""
    objective: str = Field(
        description="Built-in objective name (xgboost, lightgbm, torch_mlp) or "
        "`package.module:function` of your own."
    )
    dataset: str | None = Field(default=None, description="Bundled dataset (built-ins need one).")
    metric: str | None = Field(default=None, description="Metric name (built-ins need one).")
    direction: Direction | None = Field(
        default=None, description="minimize or maximize; defaults to the metric's own."
    )
    objectives: tuple[ObjectiveSpec, ...] | None = Field(
        default=None,
        description="Several objectives (a Pareto front): `{metric, direction}` each, in the "
        "order a custom objective returns them; instead of `direction`.",
    )
    constraints: tuple[ConstraintSpec, ...] = Field(
        default=(), description="Bounds on reported metrics: `{metric, op: '<=' | '>=', value}`."
    )
    reference_point: dict[str, Annotated[float, Field(allow_inf_nan=False)]] | None = Field(
        default=None,
        description="The hypervolume reference point `hpo compare` measures fronts against: "
        "one value per objective metric (`{f1: 11, f2: 11}`), each worse than any front point "
        "that should count; with several `objectives` only.",
    )
    promotion: PromotionRuleSpec | None = Field(
        default=None,
        description="Several objectives: how `hpo promote` picks one point of the feasible front "
        "(`{rule: constrained_best, primary: METRIC}` or `{rule: weighted, weights: {...}}`).",
    )
    cv_folds: int = Field(default=5, ge=2, le=20)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    sampler: str = Field(default="tpe", description="Default sampler name.")
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    budget: Budget = Field(default_factory=Budget)
    artifacts: ArtifactsSpec = Field(default_factory=ArtifactsSpec)
    params: dict[str, Param] = Field(min_length=1)
    grid: dict[str, tuple[Any, ...]] | None = Field(
        default=None, description="Explicit grid: values per param, for the grid sampler."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"`name` must be 1-100 letters, digits, '_', '-' or '.', but got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _objectives(self) -> SearchSpaceSpec:
        if self.objectives is None:
            return self
        if not self.objectives:
            raise ValueError(
                "`objectives` must list at least one `{metric, direction}`, but it is empty; "
                "list them, or drop `objectives` and use `direction`"
            )
        if self.direction is not None:
            raise ValueError(
                "`direction` and `objectives` cannot both be given; with `objectives`, each "
                "entry has its own direction: drop `direction`"
            )
        names = [o.metric for o in self.objectives]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"`objectives` must name each metric once, but {repeated} repeat; remove the copy"
            )
        return self

    @model_validator(mode="after")
    def _reference_point(self) -> SearchSpaceSpec:
        if self.reference_point is None:
            return self
        if not self.multi_objective:
            raise ValueError(
                "`reference_point` is the hypervolume reference of a front, but the spec "
                "declares one objective; drop `reference_point` or list several `objectives`"
            )
        assert self.objectives is not None
        names = [o.metric for o in self.objectives]
        if set(self.reference_point) != set(names):
            raise ValueError(
                f"`reference_point` must give one value per objective ({', '.join(names)}), "
                f"but it gives {', '.join(self.reference_point) or 'none'}; key it by the "
                "`objectives` metrics"
            )
        return self

    @model_validator(mode="after")
    def _promotion(self) -> SearchSpaceSpec:
        if self.promotion is None:
            return self
        if not self.multi_objective:
            raise ValueError(
                "`promotion` picks a point of a Pareto front, but the spec declares one "
                "objective (its best trial is promoted); drop `promotion` or list `objectives`"
            )
        names = [o.metric for o in self.objectives or ()]
        unknown = self.promotion.unknown_metric(names)
        if unknown is not None:
            raise ValueError(
                f"`promotion.{unknown[0]}` names {unknown[1]!r}, which is not an objective "
                f"({', '.join(names)}); name one of them"
            )
        return self

    @model_validator(mode="after")
    def _constraints(self) -> SearchSpaceSpec:
        texts = [str(c) for c in self.constraints]
        repeated = sorted({t for t in texts if texts.count(t) > 1})
        if repeated:
            raise ValueError(f"`constraints` repeat {repeated}; remove the copy")
        return self

    @property
    def multi_objective(self) -> bool:
        """True when the spec declares more than one objective (the study has a Pareto front)."""
        return self.objectives is not None and len(self.objectives) > 1

    @model_validator(mode="after")
    def _grid_inside_space(self) -> SearchSpaceSpec:
        if self.grid is None:
            return self
        for pname, values in self.grid.items():
            if pname not in self.params:
                raise ValueError(
                    f"grid param {pname!r} is not declared under `params` "
                    f"(declared: {sorted(self.params)}); declare it or remove it from `grid`"
                )
            if not values:
                raise ValueError(f"grid.{pname} must list at least one value, but it is empty")
            param = self.params[pname]
            for v in values:
                if not param.contains(v):
                    raise ValueError(
                        f"grid.{pname} value {v!r} is outside its param's range "
                        f"({_describe(param)}); fix the value or widen the param"
                    )
        return self

    def grid_size(self) -> int:
        """How many points :meth:`grid_points` has, counted without building them."""
        size = 1
        for pname, param in self.params.items():
            if self.grid is not None and pname in self.grid:
                size *= len(self.grid[pname])
            else:
                try:
                    size *= param.grid_size()
                except ValueError as exc:
                    raise ValueError(f"params.{pname}: {exc}") from None
        return size

    def grid_points(self) -> list[dict[str, Any]]:
        """The cartesian grid: explicit ``grid`` values where given, else each param's own.
        Refused (ValueError) beyond :data:`MAX_GRID_POINTS` points, before any is built."""
        size = self.grid_size()
        if size > MAX_GRID_POINTS:
            raise ValueError(
                f"the grid has {size:,} points, over the {MAX_GRID_POINTS:,} a study may enqueue"
            )
        axes: list[tuple[str, list[Any]]] = []
        for pname, param in self.params.items():
            if self.grid is not None and pname in self.grid:
                axes.append((pname, list(self.grid[pname])))
            else:
                axes.append((pname, param.grid_values()))
        points: list[dict[str, Any]] = [{}]
        for pname, values in axes:
            points = [{**p, pname: v} for p in points for v in values]
        return points


def _describe(param: IntParam | FloatParam | CategoricalParam) -> str:
    if isinstance(param, CategoricalParam):
        return f"choices {list(param.choices)}"
    step = f", step={param.step}" if param.step not in (None, 1) else ""
    return f"{param.type} in [{param.low}, {param.high}]{step}"


def check_study_name(name: str) -> str:
    """``name`` if it can name a study: 1-200 printable characters, no leading or trailing
    space (a control character in a name would forge lines in logs and tables)."""
    if not name or not name.strip():
        raise ValueError("a study name must not be empty; give a name, e.g. --study my-study")
    if len(name) > MAX_STUDY_NAME:
        raise ValueError(
            f"a study name must have at most {MAX_STUDY_NAME} characters, but got {len(name)}"
        )
    if not name.isprintable() or name != name.strip():
        raise ValueError(
            f"a study name must be printable characters without leading or trailing space, "
            f"but got {name!r}; use letters, digits, '-', '_' and '.'"
        )
    return name
