"""Study listings, summaries and trials by worker, as SQL (query layer).

A listing filters by name and sampler on ``studies`` and its attributes first, then counts
trials by state (index-only scans of ``ix_hpo_trials_study_state``) for the page's studies
only, unless a state or date filter needs those figures for every candidate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, text

from hpo.errors import ConfigError
from hpo.query.duplicates import audit_duplicates
from hpo.query.meta import StudyMeta, study_meta
from hpo.query.models import (
    STUDY_STATES,
    Page,
    StateCounts,
    StudyInfo,
    StudyPage,
    StudyState,
    StudySummary,
    WorkerTally,
)
from hpo.query.records import utc
from hpo.query.trials import MAX_BUCKETS, fetch_best

_CANDIDATES = """
    SELECT s.study_id, s.study_name,
           ARRAY(SELECT lower(CAST(d.direction AS text)) FROM study_directions d
                 WHERE d.study_id = s.study_id ORDER BY d.objective) AS directions,
           (SELECT a.value_json FROM study_user_attributes a
            WHERE a.study_id = s.study_id AND a.key = 'hpo.sampler') AS sampler_json,
           (SELECT a.value_json FROM study_user_attributes a
            WHERE a.study_id = s.study_id AND a.key = 'hpo.n_trials') AS budget_json
    FROM studies s WHERE {where}
"""

# Figures of one study (``c`` is its candidate row): counts by state, first start, last activity.
_FIGURES = """
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE t.state = 'RUNNING') AS running,
               count(*) FILTER (WHERE t.state = 'WAITING') AS waiting,
               count(*) FILTER (WHERE t.state = 'COMPLETE') AS complete,
               count(*) FILTER (WHERE t.state = 'PRUNED') AS pruned,
               count(*) FILTER (WHERE t.state = 'FAIL') AS fail,
               min(t.datetime_start) AS started_at,
               max(GREATEST(t.datetime_start, t.datetime_complete)) AS last_activity_at
        FROM trials t WHERE t.study_id = c.study_id) f
    CROSS JOIN LATERAL (
        SELECT CASE
            WHEN f.running + f.waiting + f.complete + f.pruned + f.fail = 0 THEN 'empty'
            WHEN f.running + f.waiting > 0 THEN 'running'
            WHEN c.budget_json ~ '^[0-9]+$'
                 AND f.complete + f.pruned >= CAST(c.budget_json AS bigint) THEN 'finished'
            ELSE 'stopped' END AS state) st
"""


def glob_to_like(pattern: str) -> str:
    """A shell-style pattern (``*``, ``?``) as a LIKE pattern; without wildcards, a substring."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = escaped.replace("*", "%").replace("?", "_")
    return like if ("*" in pattern or "?" in pattern) else f"%{like}%"


def _naive_utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise ConfigError(
            f"{what} must be a datetime, but got {value!r}",
            fix="pass a datetime (naive datetimes are taken as UTC)",
        )
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def list_studies(
    conn: Connection,
    *,
    name: str | None = None,
    sampler: str | None = None,
    state: StudyState | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
    active_after: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[StudyInfo]:
    """Studies, newest first (see :meth:`hpo.query.StudyClient.list_studies`)."""
    if state is not None and state not in STUDY_STATES:
        raise ConfigError(f"unknown study state {state!r}", fix=f"use one of: {STUDY_STATES}")
    binds: dict[str, Any] = {"limit": limit + 1, "offset": offset}
    where = ["true"]
    if name:
        where.append("s.study_name LIKE :name")
        binds["name"] = glob_to_like(name)
    outer = ["true"]
    if sampler:
        outer.append("c.sampler_json = :sampler_json")
        binds["sampler_json"] = json.dumps(sampler)
    needs_figures = False
    for value, clause, key in (
        (started_after, "f.started_at >= :started_after", "started_after"),
        (started_before, "f.started_at < :started_before", "started_before"),
        (active_after, "f.last_activity_at >= :active_after", "active_after"),
    ):
        if value is not None:
            outer.append(clause)
            binds[key] = _naive_utc(value, key)
            needs_figures = True
    if state is not None:
        outer.append("st.state = :state")
        binds["state"] = state
        needs_figures = True
    candidates = _CANDIDATES.format(where=" AND ".join(where))
    filter_figures = _FIGURES if needs_figures else ""
    sql = f"""
        WITH c AS ({candidates}),
        page AS (
            SELECT c.*, count(*) OVER () AS total FROM c {filter_figures}
            WHERE {" AND ".join(outer)}
            ORDER BY c.study_id DESC LIMIT :limit OFFSET :offset)
        SELECT c.*, f.*, st.state FROM page AS c {_FIGURES} ORDER BY c.study_id DESC
    """
    rows = conn.execute(text(sql), binds).all()
    items = tuple(_info(row) for row in rows[:limit])
    total = int(rows[0]._mapping["total"]) if rows else _count(conn, sql, binds, offset)
    return StudyPage(
        items=items, offset=offset, limit=limit, has_more=len(rows) > limit, total=total
    )


def _count(conn: Connection, sql: str, binds: dict[str, Any], offset: int) -> int:
    """The total when the page is empty: 0 at offset 0, else ask again from the start."""
    if offset == 0:
        return 0
    rows = conn.execute(text(sql), {**binds, "offset": 0, "limit": 1}).all()
    return int(rows[0]._mapping["total"]) if rows else 0


def study_info(conn: Connection, meta: StudyMeta) -> StudyInfo:
    """The listing row of one study."""
    candidates = _CANDIDATES.format(where="s.study_id = :sid")
    sql = f"SELECT c.*, f.*, st.state FROM ({candidates}) AS c {_FIGURES}"
    return _info(conn.execute(text(sql), {"sid": meta.study_id}).one())


def _json_or_none(raw: str | None) -> Any:
    return json.loads(raw) if raw is not None else None


def _info(row: Row[Any]) -> StudyInfo:
    m = row._mapping
    budget = _json_or_none(m["budget_json"])
    return StudyInfo(
        study_id=m["study_id"],
        study_name=m["study_name"],
        directions=tuple(m["directions"]),
        sampler=_json_or_none(m["sampler_json"]),
        n_trials_budget=budget if isinstance(budget, int) else None,
        counts=StateCounts(
            running=m["running"],
            waiting=m["waiting"],
            complete=m["complete"],
            pruned=m["pruned"],
            fail=m["fail"],
        ),
        state=m["state"],
        started_at=utc(m["started_at"]),
        last_activity_at=utc(m["last_activity_at"]),
    )


def study_summary(conn: Connection, study_name: str) -> StudySummary:
    """The summary of one study, read on ``conn`` (one snapshot when ``conn`` is in a
    REPEATABLE READ transaction, as :meth:`hpo.query.StudyClient.summary` opens)."""
    meta = study_meta(conn, study_name, max_buckets=MAX_BUCKETS)
    info = study_info(conn, meta)
    best = fetch_best(conn, meta) if len(meta.directions) == 1 else None
    attrs = hpo_attrs(conn, meta.study_id)
    last = last_completion(conn, meta.study_id)
    audit = audit_duplicates(conn, meta.study_id)
    per_minute = None
    if info.started_at is not None and last is not None and last > info.started_at:
        minutes = (last - info.started_at).total_seconds() / 60.0
        per_minute = info.counts.finished / minutes
    metric = attrs.get("hpo.metric")
    return StudySummary(
        **info.model_dump(),
        metric=metric if isinstance(metric, str) else None,
        best_trial=best,
        first_trial_at=info.started_at,
        last_trial_at=last,
        trials_per_minute=per_minute,
        devices=devices(conn, meta.study_id),
        spec_hash=attrs.get("hpo.spec_hash"),
        hpo_attrs=attrs,
        duplicate_params=audit.duplicates,
        retried_trials=audit.retries,
    )


_HPO_ATTRS_SQL = text(
    "SELECT key, value_json FROM study_user_attributes "
    "WHERE study_id = :sid AND key LIKE 'hpo.%' ORDER BY key"
)
_LAST_COMPLETE_SQL = text(
    "SELECT max(datetime_complete) FROM trials WHERE study_id = :sid "
    "AND state IN ('COMPLETE', 'PRUNED', 'FAIL')"
)
_DEVICES_SQL = text(
    """
    SELECT a.value_json, count(*) FROM trials t
    JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'device'
    WHERE t.study_id = :sid GROUP BY a.value_json ORDER BY count(*) DESC, a.value_json
    """
)


def hpo_attrs(conn: Connection, study_id: int) -> dict[str, Any]:
    """Every ``hpo.*`` study user attribute."""
    rows = conn.execute(_HPO_ATTRS_SQL, {"sid": study_id}).all()
    return {key: json.loads(raw) for key, raw in rows}


def last_completion(conn: Connection, study_id: int) -> datetime | None:
    return utc(conn.execute(_LAST_COMPLETE_SQL, {"sid": study_id}).scalar_one())


def devices(conn: Connection, study_id: int) -> dict[str, int]:
    """Trials by their ``device`` user attribute (the worker sets it when it claims a trial)."""
    rows = conn.execute(_DEVICES_SQL, {"sid": study_id}).all()
    return {str(json.loads(raw)): int(n) for raw, n in rows}


_TRIAL_COLUMNS_SQL = text(
    """
    SELECT 'params', p.param_name FROM trial_params p
    JOIN trials t ON t.trial_id = p.trial_id WHERE t.study_id = :sid
    UNION
    SELECT 'user_attrs', a.key FROM trial_user_attributes a
    JOIN trials t ON t.trial_id = a.trial_id WHERE t.study_id = :sid
    ORDER BY 1, 2
    """
)


def trial_columns(conn: Connection, study_id: int) -> dict[str, list[str]]:
    """Param names and user attribute keys of the study's trials: ``{"params": [...],
    "user_attrs": [...]}``, sorted (the columns of a CSV export)."""
    columns: dict[str, list[str]] = {"params": [], "user_attrs": []}
    for kind, name in conn.execute(_TRIAL_COLUMNS_SQL, {"sid": study_id}).all():
        columns[kind].append(name)
    return columns


_BY_WORKER_SQL = text(
    """
    SELECT w.value_json AS worker, p.value_json AS pool, h.value_json AS host,
           d.value_json AS device, t.state, count(*) AS n
    FROM trials t
    JOIN trial_user_attributes w ON w.trial_id = t.trial_id AND w.key = 'worker'
    LEFT JOIN trial_user_attributes p ON p.trial_id = t.trial_id AND p.key = 'pool'
    LEFT JOIN trial_user_attributes h ON h.trial_id = t.trial_id AND h.key = 'host'
    LEFT JOIN trial_user_attributes d ON d.trial_id = t.trial_id AND d.key = 'device'
    WHERE t.study_id = :sid
    GROUP BY 1, 2, 3, 4, 5
    """
)


def trials_by_worker(conn: Connection, study_id: int) -> list[WorkerTally]:
    """One row per worker (and pool, host, device) that ran trials of the study, sorted."""
    acc: dict[tuple[str, str | None, str | None, str | None], dict[str, int]] = {}
    for worker, pool, host, device, state, n in conn.execute(_BY_WORKER_SQL, {"sid": study_id}):
        key = (json.loads(worker), *(_json_or_none(v) for v in (pool, host, device)))
        acc.setdefault(key, {})[state] = int(n)
    return [
        WorkerTally(
            worker=worker, pool=pool, host=host, device=device, counts=StateCounts.from_rows(rows)
        )
        for (worker, pool, host, device), rows in sorted(acc.items(), key=_tally_key)
    ]


def _tally_key(item: tuple[tuple[str, str | None, str | None, str | None], Any]) -> tuple[str, ...]:
    return tuple(part or "" for part in item[0])
