"""Which point of a Pareto front the promotion gate takes: the declared rules, as pure functions
over plain points (no I/O, no Optuna).

A rule (:class:`~hpo.search_spaces.schema.PromotionRuleSpec`, the spec's ``promotion:`` or
``hpo promote --rule``) turns a point's objective values into one score, and the gate promotes
the front point with the best score, then compares candidate and champion by that same score:

* ``constrained_best``: the ``primary`` objective's value, better in its direction. The front is
  the feasible one, so "subject to the constraints" holds for every point it can pick. Ties: the
  other objectives in their declared order (each in its direction), then the lowest trial number.
* ``weighted``: ``sum(weight * value)`` over the weighted objectives, higher is better (signed
  weights: ``{roc_auc: 1.0, latency_ms: -0.01}``). Ties: the lowest trial number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, ValidationError

from hpo.errors import ConfigError, StoreStateError
from hpo.search_spaces.schema import Direction, ObjectiveSpec, PromotionRuleSpec, SearchSpaceSpec

RULES = ("constrained_best", "weighted")
_FIX_DECLARE = (
    "declare `promotion: {rule: constrained_best, primary: METRIC}` (or `{rule: weighted, "
    "weights: {METRIC: W, ...}}`) in the spec, or pass `hpo promote --rule constrained_best "
    "--primary METRIC` (or `--rule weighted --weight METRIC=W ...`)"
)


class FrontPoint(BaseModel):
    """One trial of the feasible front: its number and its value per objective."""

    model_config = ConfigDict(frozen=True)

    trial_number: int
    values: dict[str, float]


class Choice(BaseModel):
    """The point a rule picked, its score, and the trials that tied with it on the score."""

    model_config = ConfigDict(frozen=True)

    point: FrontPoint
    score: float
    tied: tuple[int, ...] = ()


def score_direction(rule: PromotionRuleSpec, directions: Mapping[str, Direction]) -> Direction:
    """Which way the rule's score is better."""
    if rule.rule == "constrained_best":
        return directions[str(rule.primary)]
    return "maximize"


def score(rule: PromotionRuleSpec, values: Mapping[str, float]) -> float:
    """The rule's score of one point (its objective values by metric)."""
    if rule.rule == "constrained_best":
        return float(values[str(rule.primary)])
    return float(sum(w * values[m] for m, w in (rule.weights or {}).items()))


def choose(
    rule: PromotionRuleSpec, points: Sequence[FrontPoint], objectives: Sequence[ObjectiveSpec]
) -> Choice:
    """The front point ``rule`` picks; :class:`~hpo.errors.StoreStateError` on an empty front."""
    if not points:
        raise StoreStateError(
            "the study's feasible Pareto front is empty: no COMPLETE trial meets every "
            "constraint, so there is no point to promote",
            fix="tune more trials, or loosen the spec's `constraints` in a new study",
        )
    directions = {o.metric: o.direction for o in objectives}
    sign = -1.0 if score_direction(rule, directions) == "maximize" else 1.0

    def key(p: FrontPoint) -> tuple[float, ...]:
        head = sign * score(rule, p.values)
        if rule.rule == "constrained_best":
            rest = [
                (-1.0 if o.direction == "maximize" else 1.0) * p.values[o.metric]
                for o in objectives
                if o.metric != rule.primary
            ]
            return (head, *rest, float(p.trial_number))
        return (head, float(p.trial_number))

    best = min(points, key=key)
    best_score = score(rule, best.values)
    tied = tuple(
        p.trial_number for p in points if p is not best and score(rule, p.values) == best_score
    )
    return Choice(point=best, score=best_score, tied=tied)


def parse_rule(
    rule: str | None, primary: str | None, weights: Sequence[str]
) -> PromotionRuleSpec | None:
    """``hpo promote --rule R [--primary M] [--weight M=W ...]`` as a rule (None: no flag);
    ConfigError naming the flag otherwise."""
    if rule is None:
        if primary is not None or weights:
            raise ConfigError(
                "--primary and --weight belong to a rule, but no --rule is given",
                where="--rule",
                fix="add --rule constrained_best (with --primary) or --rule weighted "
                "(with --weight)",
            )
        return None
    parsed: dict[str, float] = {}
    for text in weights:
        metric, sep, number = text.partition("=")
        try:
            if not sep or not metric.strip():
                raise ValueError(text)
            parsed[metric.strip()] = float(number)
        except ValueError:
            raise ConfigError(
                f"--weight must be METRIC=NUMBER, but got {text!r}",
                where="--weight",
                fix="e.g. --weight roc_auc=1 --weight latency_ms=-0.01",
            ) from None
    try:
        return PromotionRuleSpec(
            rule=rule,  # checked by the model (a Literal)
            primary=primary,
            weights=parsed or None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(
            message, where="--rule", fix=f"rules: {', '.join(RULES)}; " + _FIX_DECLARE
        ) from None


def resolve_rule(
    spec: SearchSpaceSpec, given: PromotionRuleSpec | None, *, what: str
) -> PromotionRuleSpec:
    """The rule for a study of several objectives: ``given`` (``--rule``), else the spec's
    ``promotion``; ConfigError (exit 2) when neither, or when it names no objective."""
    rule = given if given is not None else spec.promotion
    if rule is None:
        raise ConfigError(
            f"{what} has {len(spec.objectives or ())} objectives and no promotion rule: the gate "
            "cannot tell which point of its Pareto front to promote",
            where="promotion",
            fix=_FIX_DECLARE,
        )
    names = [o.metric for o in spec.objectives or ()]
    unknown = rule.unknown_metric(names)
    if unknown is not None:
        field, metric = unknown
        flag = "--primary" if field == "primary" else "--weight"
        raise ConfigError(
            f"the promotion rule names {metric!r}, which is not an objective of {what} "
            f"({', '.join(names)})",
            where=flag if given is not None else f"promotion.{field}",
            fix="name one of its objectives",
        )
    return rule
