"""Rows of Optuna's tables into :class:`TrialRecord` s, and the SQL pieces that read them.

Optuna's schema, as read here: ``trials`` (trial_id, number, study_id, state,
datetime_start/complete in naive UTC), ``trial_values`` (objective, value, value_type: an
infinite value is NULL plus INF_POS / INF_NEG), ``trial_params`` (param_value in the
distribution's internal representation: a categorical is the index of its choice),
``trial_user_attributes`` / ``trial_system_attributes`` (``json.dumps`` of the value).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from optuna.distributions import BaseDistribution, json_to_distribution
from sqlalchemy import Row

from hpo.query.models import TrialRecord

# The index's own expressions, re-exported for the queries that walk the index.
from hpo.storage.query_indexes import TRIAL_ID_BUCKET as TRIAL_ID_BUCKET
from hpo.storage.query_indexes import VALUE_KEY as VALUE_KEY
from hpo.storage.query_indexes import bucket_of as bucket_of
from hpo.storage.query_indexes import value_key as value_key

#: Columns that turn a ``page`` of (trial_id, number, state, datetime_start, datetime_complete)
#: rows into full trials, one indexed lookup per table and trial (the tables' unique
#: (trial_id, ...) constraints). Params keep Optuna's order (``param_id``).
HYDRATE_COLUMNS = f"""
    ARRAY(SELECT {value_key()} FROM trial_values v
          WHERE v.trial_id = page.trial_id ORDER BY v.objective) AS all_values,
    pp.names AS param_names, pp.vals AS param_values, pp.dists AS param_dists,
    ua.keys AS attr_keys, ua.vals AS attr_values,
    (SELECT s.value_json FROM trial_system_attributes s
     WHERE s.trial_id = page.trial_id AND s.key = 'fail_reason') AS fail_reason_json
"""
HYDRATE_JOINS = """
    LEFT JOIN LATERAL (
        SELECT array_agg(p.param_name ORDER BY p.param_id) AS names,
               array_agg(p.param_value ORDER BY p.param_id) AS vals,
               array_agg(p.distribution_json ORDER BY p.param_id) AS dists
        FROM trial_params p WHERE p.trial_id = page.trial_id) pp ON true
    LEFT JOIN LATERAL (
        SELECT array_agg(a.key ORDER BY a.trial_user_attribute_id) AS keys,
               array_agg(a.value_json ORDER BY a.trial_user_attribute_id) AS vals
        FROM trial_user_attributes a WHERE a.trial_id = page.trial_id) ua ON true
"""


@lru_cache(maxsize=4096)
def distribution(distribution_json: str) -> BaseDistribution:
    """The distribution of a ``trial_params`` row (cached: a study has a handful)."""
    return json_to_distribution(distribution_json)


def utc(value: datetime | None) -> datetime | None:
    """A naive UTC datetime from Optuna's tables, made timezone-aware."""
    return value.replace(tzinfo=UTC) if value is not None else None


def to_record(row: Row[Any]) -> TrialRecord:
    """A page row (page columns + :data:`HYDRATE_COLUMNS`) as a :class:`TrialRecord`."""
    m = row._mapping
    start, complete = utc(m["datetime_start"]), utc(m["datetime_complete"])
    values = [float(v) for v in m["all_values"] or [] if v is not None]
    params: dict[str, Any] = {}
    for name, internal, dist_json in zip(
        m["param_names"] or [], m["param_values"] or [], m["param_dists"] or [], strict=True
    ):
        params[name] = distribution(dist_json).to_external_repr(internal)
    attrs = {
        key: json.loads(raw)
        for key, raw in zip(m["attr_keys"] or [], m["attr_values"] or [], strict=True)
    }
    fail_reason = json.loads(m["fail_reason_json"]) if m["fail_reason_json"] else None
    return TrialRecord(
        number=m["number"],
        state=m["state"],
        value=values[0] if values else None,
        values=tuple(values) if len(values) > 1 else None,
        params=params,
        user_attrs=attrs,
        datetime_start=start,
        datetime_complete=complete,
        duration_s=(complete - start).total_seconds() if start and complete else None,
        fail_reason=str(fail_reason) if fail_reason is not None else None,
    )
