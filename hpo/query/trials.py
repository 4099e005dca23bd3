"""Trial pages and the best trial, as SQL over indexes.

Every page is one statement (the page's rows, then their params and attributes through the
tables' unique (trial_id, ...) indexes). Two plans:

* **Study-wide**: filter the study's trials, join their values, sort, cut the page. By number it
  walks ``ix_hpo_trials_study_number`` and stops after the page (cheap however large the study);
  by value it sorts every matching trial, so its cost grows with the study.
* **Bucket merge**, for pages by value (and the best trial) of large studies. No index can order
  one study's values: the values are in ``trial_values`` and the study in ``trials``. But trial
  ids come from one sequence, so a study's trials sit in a few buckets of consecutive ids
  (:data:`~hpo.query.records.TRIAL_ID_BUCKET`), and ``ix_hpo_trial_values_bucket`` orders each
  bucket's values. The query reads, for each of the study's buckets, its rows in value order,
  keeping those of this study that pass the filters (``LIMIT`` offset + limit + 1 each), and
  PostgreSQL merges the runs (Merge Append) and stops after the page. Exact by construction;
  the cost is the page plus the other studies' trials met on the way.

:func:`choose_buckets` picks the bucket merge when its estimated cost (rows met: the page and
one row per bucket, divided by the study's share of its id range and the filters' estimated
selectivity) is below the study's size. Both plans give the same page (tests check this);
only the time differs. Ties are broken by trial number, so pages never overlap or skip a trial.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sqlalchemy import Connection, Row, text

from hpo.errors import StoreStateError
from hpo.query.filters import ParamCondition, TrialQuery
from hpo.query.meta import StudyMeta
from hpo.query.models import TrialPage, TrialRecord
from hpo.query.records import HYDRATE_COLUMNS, HYDRATE_JOINS, bucket_of, to_record, value_key

#: Studies smaller than this are read study-wide (sorting them is cheap).
BUCKET_MIN_TRIALS = 2_000
#: At most this many buckets (one UNION ALL branch each); a study spread wider is read
#: study-wide.
MAX_BUCKETS = 64
#: What one row met by the bucket merge costs (two index probes) against one row of the
#: study-wide plan (a scan and a hash).
PROBE_COST = 4.0

_NO_PARALLEL = text("SET LOCAL max_parallel_workers_per_gather = 0")

_PAGE_COLUMNS = (
    "t.trial_id, t.number, CAST(t.state AS text) AS state, t.datetime_start, t.datetime_complete"
)


def _filters(
    query: TrialQuery, conditions: tuple[ParamCondition, ...], binds: dict[str, Any]
) -> list[str]:
    """WHERE clauses on ``trials t``: the study, the states and the params."""
    clauses = ["t.study_id = :sid"]
    if query.states is not None:
        clauses.append("t.state = ANY(CAST(:states AS trialstate[]))")
        binds["states"] = list(query.states)
    for i, cond in enumerate(conditions):
        binds[f"pn{i}"] = cond.name
        test = [f"p.param_name = :pn{i}"]
        if cond.indexes is not None:
            test.append(f"p.param_value = ANY(CAST(:pix{i} AS double precision[]))")
            binds[f"pix{i}"] = [float(ix) for ix in cond.indexes]
        if cond.low is not None:
            test.append(f"p.param_value >= :plo{i}")
            binds[f"plo{i}"] = cond.low
        if cond.high is not None:
            test.append(f"p.param_value <= :phi{i}")
            binds[f"phi{i}"] = cond.high
        clauses.append(
            "EXISTS (SELECT 1 FROM trial_params p WHERE p.trial_id = t.trial_id AND "
            + " AND ".join(test)
            + ")"
        )
    return clauses


def _value_clauses(query: TrialQuery, binds: dict[str, Any]) -> list[str]:
    clauses = []
    if query.value_range is not None:
        low, high = query.value_range
        if low is not None:
            clauses.append(f"{value_key()} >= :vlo")
            binds["vlo"] = low
        if high is not None:
            clauses.append(f"{value_key()} <= :vhi")
            binds["vhi"] = high
    return clauses


def _descending(query: TrialQuery, meta: StudyMeta) -> bool:
    if query.sort == "best":
        return meta.maximize
    return query.sort.startswith("-")


def _study_wide_sql(query: TrialQuery, where: list[str], desc: bool) -> str:
    direction = "DESC" if desc else "ASC"
    if query.sort.endswith("number"):
        order, page_order = f"t.number {direction}", f"page.number {direction}"
    else:
        order = f"k {direction} NULLS LAST, t.number"
        page_order = f"page.k {direction} NULLS LAST, page.number"
    return f"""
        WITH page AS (
            SELECT {_PAGE_COLUMNS}, {value_key()} AS k
            FROM trials t LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0
            WHERE {" AND ".join(where)}
            ORDER BY {order} LIMIT :limit_plus OFFSET :offset)
        SELECT page.*, {HYDRATE_COLUMNS} FROM page {HYDRATE_JOINS} ORDER BY {page_order}
    """


def _bucket_sql(n_buckets: int, where: list[str], desc: bool) -> str:
    direction = "DESC" if desc else "ASC"
    key = value_key()
    scan = [
        "v.objective = 0",
        f"{bucket_of()} = :b{{i}}",
        "v.trial_id BETWEEN :first_id AND :last_id",
        f"{key} IS NOT NULL",
        *where,
    ]
    branch = f"""(
        SELECT {_PAGE_COLUMNS}, {key} AS k
        FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id
        WHERE {" AND ".join(scan)}
        ORDER BY {key} {direction}, t.number LIMIT :need)"""
    branches = " UNION ALL ".join(branch.replace("{i}", str(i)) for i in range(n_buckets))
    return f"""
        WITH page AS (
            SELECT u.* FROM ({branches}) AS u
            ORDER BY u.k {direction}, u.number LIMIT :limit_plus OFFSET :offset)
        SELECT page.*, {HYDRATE_COLUMNS}
        FROM page {HYDRATE_JOINS} ORDER BY page.k {direction}, page.number
    """


def _selectivity(cond: ParamCondition, dist: BaseDistribution | None) -> float:
    """The share of trials a param condition keeps, if the param were spread evenly over its
    distribution (a rough guess: it only picks a plan)."""
    if isinstance(dist, CategoricalDistribution) and cond.indexes is not None:
        return len(cond.indexes) / len(dist.choices)
    if isinstance(dist, FloatDistribution | IntDistribution):
        low = dist.low if cond.low is None else max(cond.low, dist.low)
        high = dist.high if cond.high is None else min(cond.high, dist.high)
        if high < low:
            return 0.0
        if dist.log:
            span = math.log(dist.high) - math.log(dist.low)
            return (math.log(high) - math.log(low)) / span if span else 1.0
        span = dist.high - dist.low
        return (high - low) / span if span else 1.0
    return 1.0


def choose_buckets(
    meta: StudyMeta, query: TrialQuery, conditions: tuple[ParamCondition, ...]
) -> bool:
    """Whether the bucket merge should answer this page by value (see the module doc)."""
    if query.sort.endswith("number") or meta.n_trials < BUCKET_MIN_TRIALS:
        return False
    if not meta.buckets or len(meta.buckets) > MAX_BUCKETS:
        return False
    kept = meta.id_share
    for cond in conditions:
        kept *= _selectivity(cond, meta.distributions.get(cond.name))
    if query.states is not None and "COMPLETE" not in query.states:
        kept *= 0.1  # PRUNED trials are the only others with a value
    need = query.offset + query.limit + 1
    met = PROBE_COST * (len(meta.buckets) + need) / max(kept, 1e-9)
    return met < meta.n_trials


def fetch_page(
    conn: Connection,
    meta: StudyMeta,
    query: TrialQuery,
    conditions: tuple[ParamCondition, ...] = (),
    *,
    with_total: bool = False,
    after_number: int | None = None,
) -> TrialPage:
    """One page of the study's trials.

    ``after_number`` (number order only) starts after that trial: keyset paging for exports.
    """
    desc = _descending(query, meta)
    binds: dict[str, Any] = {
        "sid": meta.study_id,
        "limit_plus": query.limit + 1,
        "offset": query.offset,
    }
    where = _filters(query, conditions, binds) + _value_clauses(query, binds)
    rows: Sequence[Row[Any]] | None = None
    if meta.buckets and choose_buckets(meta, query, conditions):
        bucket_binds: dict[str, Any] = {f"b{i}": b for i, b in enumerate(meta.buckets)}
        bucket_binds |= {
            "first_id": meta.first_id,
            "last_id": meta.last_id,
            "need": query.offset + query.limit + 1,
        }
        sql = _bucket_sql(len(meta.buckets), where, desc)
        # Parallel workers would each read ahead in every run and stop late: the merge wants
        # few rows from each, in order. SET LOCAL ends with the (read-only) transaction.
        conn.execute(_NO_PARALLEL)
        rows = conn.execute(text(sql), binds | bucket_binds).all()
        # The merge sees trials with a value only. A short page may go on with valueless ones
        # (no value range, and states other than COMPLETE allowed): finish it study-wide.
        only_valued = query.value_range is not None or query.states == ("COMPLETE",)
        if len(rows) <= query.limit and not only_valued:
            rows = None
    if rows is None:
        if after_number is not None:
            where.append("t.number < :after" if desc else "t.number > :after")
            binds["after"] = after_number
        rows = conn.execute(text(_study_wide_sql(query, where, desc)), binds).all()
    items = tuple(to_record(row) for row in rows[: query.limit])
    total = count_matches(conn, meta, query, conditions) if with_total else None
    return TrialPage(
        items=items,
        offset=query.offset,
        limit=query.limit,
        has_more=len(rows) > query.limit,
        total=total,
    )


def count_matches(
    conn: Connection,
    meta: StudyMeta,
    query: TrialQuery,
    conditions: tuple[ParamCondition, ...] = (),
) -> int:
    """How many of the study's trials pass the filters (an index-only count without filters;
    proportional to the study's size in any case)."""
    binds: dict[str, Any] = {"sid": meta.study_id}
    where = _filters(query, conditions, binds) + _value_clauses(query, binds)
    join = (
        "LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0"
        if query.value_range is not None
        else ""
    )
    sql = f"SELECT count(*) FROM trials t {join} WHERE {' AND '.join(where)}"
    return int(conn.execute(text(sql), binds).scalar_one())


def fetch_best(conn: Connection, meta: StudyMeta) -> TrialRecord | None:
    """The study's best COMPLETE trial for its direction (ties: the lowest number), or None.
    ``meta`` should carry the study's buckets (``study_meta(..., max_buckets=MAX_BUCKETS)``)."""
    if len(meta.directions) > 1:
        raise StoreStateError(
            f"study {meta.study_name!r} has {len(meta.directions)} objectives, so it has no "
            "single best trial",
            fix="rank its trials by the first objective with trials(..., sort='value')",
        )
    query = TrialQuery(states=("COMPLETE",), sort="best", limit=1)
    page = fetch_page(conn, meta, query)
    return page.items[0] if page.items else None
