"""Rows of Optuna's tables to and from :class:`~optuna.trial.FrozenTrial`, exactly as
``RDBStorage`` stores and reads them.

* Datetimes are stored as naive UTC and read back as naive local time.
* Values and intermediate values: infinities (and NaN for intermediate values) are stored as
  NULL with their kind in ``value_type`` / ``intermediate_value_type``.
* Params are stored in the distribution's internal representation, with the distribution's JSON.
* Attributes are ``json.dumps`` of the value.

What this module builds for a value it just wrote (:func:`as_stored`, :func:`round_trip`) equals
what a read of the row gives, so a cached trial never differs from a fresh read.
"""

from __future__ import annotations

import copy
import json
import math
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from optuna.distributions import BaseDistribution, distribution_to_json, json_to_distribution
from optuna.trial import FrozenTrial, TrialState

_distributions: dict[str, BaseDistribution] = {}
_distributions_lock = threading.Lock()


def distribution(dist_json: str) -> BaseDistribution:
    """The distribution of a stored JSON (parsed once per process: a study has few)."""
    found = _distributions.get(dist_json)
    if found is None:
        found = json_to_distribution(dist_json)
        with _distributions_lock:
            if len(_distributions) > 10_000:  # a pathological space: do not grow forever
                _distributions.clear()
            _distributions[dist_json] = found
    return found


def to_json(dist: BaseDistribution) -> str:
    return distribution_to_json(dist)


def utc_naive(value: datetime) -> datetime:
    """A naive local (or aware) datetime as the naive UTC Optuna stores."""
    return value.astimezone(UTC).replace(tzinfo=None)


def local_naive(value: datetime | None) -> datetime | None:
    """A stored naive UTC datetime as the naive local time Optuna reads back."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC).astimezone().replace(tzinfo=None)


def value_kind(value: float) -> tuple[float | None, str]:
    """(stored value, ``trialvaluetype`` label) of an objective value."""
    if value == math.inf:
        return None, "INF_POS"
    if value == -math.inf:
        return None, "INF_NEG"
    return value, "FINITE"


def intermediate_kind(value: float) -> tuple[float | None, str]:
    """(stored value, ``trialintermediatevaluetype`` label) of an intermediate value."""
    if math.isnan(value):
        return None, "NAN"
    return value_kind(value)


def _stored_value(value: float | None, kind: str) -> float:
    if kind == "INF_POS":
        return math.inf
    if kind == "INF_NEG":
        return -math.inf
    if kind == "NAN":
        return math.nan
    assert value is not None
    return float(value)


def as_stored(value: Any) -> Any:
    """An attribute value as reading its row back gives it (tuples become lists, ...)."""
    return json.loads(json.dumps(value))


def round_trip(dist: BaseDistribution) -> BaseDistribution:
    """A distribution as reading its row back gives it."""
    return distribution(to_json(dist))


def frozen_trial(row: Sequence[Any], offset: int = 0) -> FrozenTrial:
    """The trial of a row of :data:`hpo.storage.sql.TRIAL_COLUMNS` (from column ``offset``)."""
    (
        trial_id,
        number,
        state,
        start,
        complete,
        p_names,
        p_vals,
        p_dists,
        v_objs,
        v_vals,
        v_types,
        ua_keys,
        ua_vals,
        sa_keys,
        sa_vals,
        iv_steps,
        iv_vals,
        iv_types,
    ) = row[offset : offset + 18]
    params: dict[str, Any] = {}
    dists: dict[str, BaseDistribution] = {}
    if p_names:
        for name, internal, dist_json in zip(p_names, p_vals, p_dists, strict=True):
            dist = distribution(dist_json)
            dists[name] = dist
            params[name] = dist.to_external_repr(internal)
    values: list[float] | None = None
    if v_objs:
        values = [0.0] * len(v_objs)
        for objective, value, kind in zip(v_objs, v_vals, v_types, strict=True):
            values[objective] = _stored_value(value, kind)
    intermediate: dict[int, float] = {}
    if iv_steps:
        for step, value, kind in zip(iv_steps, iv_vals, iv_types, strict=True):
            intermediate[step] = _stored_value(value, kind)
    return FrozenTrial(
        number=number,
        state=TrialState[state],
        value=None,
        values=values,
        datetime_start=local_naive(start),
        datetime_complete=local_naive(complete),
        params=params,
        distributions=dists,
        user_attrs={k: json.loads(v) for k, v in zip(ua_keys or (), ua_vals or (), strict=True)},
        system_attrs={k: json.loads(v) for k, v in zip(sa_keys or (), sa_vals or (), strict=True)},
        intermediate_values=intermediate,
        trial_id=trial_id,
    )


def clone(trial: FrozenTrial) -> FrozenTrial:
    """A copy the caller may change without changing ``trial`` (distributions are shared: they
    are never changed in place)."""
    return FrozenTrial(
        number=trial.number,
        state=trial.state,
        value=None,
        values=list(trial.values) if trial.values is not None else None,
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
        params=dict(trial.params),
        distributions=dict(trial.distributions),
        user_attrs=copy.deepcopy(trial.user_attrs),
        system_attrs=copy.deepcopy(trial.system_attrs),
        intermediate_values=dict(trial.intermediate_values),
        trial_id=trial._trial_id,
    )


def children_params(
    params: Mapping[str, tuple[float, str]],
    user_attrs: Mapping[str, Any],
    system_attrs: Mapping[str, Any],
    intermediate: Mapping[int, float],
) -> dict[str, Any]:
    """Statement parameters of the child-row CTEs of :mod:`hpo.storage.sql` (params as
    ``name -> (internal value, distribution JSON)``)."""
    out: dict[str, Any] = {}
    if params:
        out["p_names"] = list(params)
        out["p_vals"] = [float(v) for v, _ in params.values()]
        out["p_dists"] = [d for _, d in params.values()]
    if user_attrs:
        out["u_keys"] = list(user_attrs)
        out["u_vals"] = [json.dumps(v) for v in user_attrs.values()]
    if system_attrs:
        out["s_keys"] = list(system_attrs)
        out["s_vals"] = [json.dumps(v) for v in system_attrs.values()]
    if intermediate:
        kinds = [intermediate_kind(float(v)) for v in intermediate.values()]
        out["i_steps"] = [int(s) for s in intermediate]
        out["i_vals"] = [v for v, _ in kinds]
        out["i_types"] = [k for _, k in kinds]
    return out


def values_params(values: Sequence[float]) -> dict[str, Any]:
    kinds = [value_kind(float(v)) for v in values]
    return {
        "v_objs": list(range(len(values))),
        "v_vals": [v for v, _ in kinds],
        "v_types": [k for _, k in kinds],
    }
