"""Trial filters: checked once, before any SQL runs, with errors that name the value, the rule
and the fix.

A :class:`TrialQuery` holds everything but the params' distributions; :func:`resolve_params`
checks the param filter against the study's own distributions (read from ``trial_params``) and
turns it into SQL-ready conditions on the stored (internal) representation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from pydantic import BaseModel, ConfigDict

from hpo.errors import ConfigError
from hpo.query.models import SORT_KEYS, TRIAL_STATES, SortKey, TrialStateName, check_page

#: The largest page a query returns; page on with ``offset`` for more.
MAX_PAGE = 10_000

StateArg = str | optuna.trial.TrialState | Iterable[str | optuna.trial.TrialState] | None
Range = tuple[float | None, float | None]


class ParamCondition(BaseModel):
    """One param filter on the stored representation: ``low <= value <= high`` for numbers,
    ``value IN indexes`` for a categorical (its choices' indexes)."""

    model_config = ConfigDict(frozen=True)

    name: str
    low: float | None = None
    high: float | None = None
    indexes: tuple[int, ...] | None = None


class TrialQuery(BaseModel):
    """A checked trial query (see :meth:`hpo.query.StudyClient.trials` for the fields)."""

    model_config = ConfigDict(frozen=True)

    states: tuple[TrialStateName, ...] | None = None
    param_filter: tuple[tuple[str, Any], ...] = ()
    value_range: Range | None = None
    sort: SortKey = "number"
    limit: int = 100
    offset: int = 0


def parse_states(state: StateArg) -> tuple[TrialStateName, ...] | None:
    """``"complete"``, ``TrialState.COMPLETE``, or several of them, as state names."""
    if state is None:
        return None
    items = [state] if isinstance(state, str | optuna.trial.TrialState) else list(state)
    names: list[TrialStateName] = []
    for item in items:
        name = item.name if isinstance(item, optuna.trial.TrialState) else str(item).upper()
        if name not in TRIAL_STATES:
            raise ConfigError(
                f"unknown trial state {item!r}",
                fix=f"use one of: {', '.join(s.lower() for s in TRIAL_STATES)}",
            )
        names.append(name)
    if not names:
        raise ConfigError("the state filter is empty", fix="pass at least one state, or None")
    return tuple(dict.fromkeys(names))


def check_range(low: float | None, high: float | None, *, what: str) -> Range:
    """``low <= high`` (None is an open end, NaN is refused)."""
    for bound in (low, high):
        if bound is not None and math.isnan(bound):
            raise ConfigError(f"{what}: a bound is NaN", fix="pass numbers, or None for no bound")
    if low is not None and high is not None and low > high:
        raise ConfigError(
            f"{what}: `low <= high` must hold, but got low={low}, high={high}",
            fix="swap the bounds",
        )
    return (low, high)


def build_query(
    *,
    state: StateArg = None,
    param_filter: Mapping[str, Any] | None = None,
    value_range: Sequence[float | None] | None = None,
    sort: str = "number",
    limit: int = 100,
    offset: int = 0,
) -> TrialQuery:
    """Check every argument that does not need the study; the params come later."""
    if sort not in SORT_KEYS:
        raise ConfigError(f"unknown sort {sort!r}", fix=f"use one of: {', '.join(SORT_KEYS)}")
    check_page(limit, offset, max_limit=MAX_PAGE)
    checked_range: Range | None = None
    if value_range is not None:
        if len(value_range) != 2:
            raise ConfigError(
                f"value_range must be (low, high), but got {value_range!r}",
                fix="pass two numbers; None for an open end",
            )
        checked_range = check_range(
            _number(value_range[0], "value_range"),
            _number(value_range[1], "value_range"),
            what="value_range",
        )
    return TrialQuery(
        states=parse_states(state),
        param_filter=tuple((param_filter or {}).items()),
        value_range=checked_range,
        sort=sort,
        limit=limit,
        offset=offset,
    )


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"{what}: bounds must be numbers or None, but got {value!r}",
            fix="pass (low, high) with numbers; None for an open end",
        )
    return float(value)


def resolve_params(
    param_filter: Iterable[tuple[str, Any]],
    distributions: Mapping[str, BaseDistribution | None],
    known_names: Callable[[], list[str]],
) -> tuple[ParamCondition, ...]:
    """SQL-ready conditions for ``param_filter``, checked against the study's distributions.

    A numeric param takes ``(low, high)``; a categorical one takes the choices to keep.
    """
    conditions: list[ParamCondition] = []
    for name, spec in param_filter:
        dist = distributions.get(name)
        if dist is None:
            names = known_names()
            raise ConfigError(
                f"param_filter: the study has no param named {name!r}",
                fix=f"filter on one of: {', '.join(names)}" if names else "the study has no params",
            )
        if isinstance(dist, CategoricalDistribution):
            conditions.append(_categorical(name, spec, dist))
            continue
        if isinstance(spec, str) or not isinstance(spec, Sequence) or len(spec) != 2:
            raise ConfigError(
                f"param_filter[{name!r}] must be (low, high), but got {spec!r}",
                fix=f"e.g. param_filter={{{name!r}: (low, high)}}; None for an open end",
            )
        what = f"param_filter[{name!r}]"
        low, high = check_range(_number(spec[0], what), _number(spec[1], what), what=what)
        conditions.append(ParamCondition(name=name, low=low, high=high))
    return tuple(conditions)


def _categorical(name: str, spec: Any, dist: CategoricalDistribution) -> ParamCondition:
    wanted = [spec] if isinstance(spec, str) or not isinstance(spec, Iterable) else list(spec)
    indexes: list[int] = []
    for choice in wanted:
        try:
            indexes.append(int(dist.to_internal_repr(choice)))
        except ValueError:
            raise ConfigError(
                f"param_filter[{name!r}]: {choice!r} is not one of the param's choices",
                fix=f"keep some of: {', '.join(repr(c) for c in dist.choices)}",
            ) from None
    if not indexes:
        raise ConfigError(
            f"param_filter[{name!r}] keeps no choice",
            fix=f"keep some of: {', '.join(repr(c) for c in dist.choices)}",
        )
    return ParamCondition(name=name, indexes=tuple(indexes))
