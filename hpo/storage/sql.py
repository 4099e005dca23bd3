"""The SQL of :class:`~hpo.storage.fast_rdb.FastRDBStorage`: one statement per storage call.

Every statement reads or writes Optuna's own tables with the rows Optuna itself writes; only the
way they are written differs (one statement instead of an ORM round trip per row). Statements
run on the engine's pooled psycopg connections (:mod:`hpo.storage.statements`), which reports
each to the engine's ``before_cursor_execute`` listeners, so they are counted like any other;
parameters use psycopg's ``%(name)s`` style.

Trials are read with their params, values, attributes and intermediate values in one statement:
one ``LATERAL`` aggregate per child table, each an index probe on ``trial_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo.storage.budget import TrialBudget

#: The columns :func:`hpo.storage.trial_rows.frozen_trial` decodes, in this order.
TRIAL_COLUMNS = """
    t.trial_id, t.number, t.state::text AS state, t.datetime_start, t.datetime_complete,
    p.names AS p_names, p.vals AS p_vals, p.dists AS p_dists,
    v.objs AS v_objs, v.vals AS v_vals, v.types AS v_types,
    ua.keys AS ua_keys, ua.vals AS ua_vals,
    sa.keys AS sa_keys, sa.vals AS sa_vals,
    iv.steps AS iv_steps, iv.vals AS iv_vals, iv.types AS iv_types"""

TRIAL_JOINS = """
    LEFT JOIN LATERAL (
        SELECT array_agg(param_name ORDER BY param_id) AS names,
               array_agg(param_value ORDER BY param_id) AS vals,
               array_agg(distribution_json ORDER BY param_id) AS dists
        FROM trial_params WHERE trial_id = t.trial_id) p ON true
    LEFT JOIN LATERAL (
        SELECT array_agg(objective) AS objs, array_agg(value) AS vals,
               array_agg(value_type::text) AS types
        FROM trial_values WHERE trial_id = t.trial_id) v ON true
    LEFT JOIN LATERAL (
        SELECT array_agg(key) AS keys, array_agg(value_json) AS vals
        FROM trial_user_attributes WHERE trial_id = t.trial_id) ua ON true
    LEFT JOIN LATERAL (
        SELECT array_agg(key) AS keys, array_agg(value_json) AS vals
        FROM trial_system_attributes WHERE trial_id = t.trial_id) sa ON true
    LEFT JOIN LATERAL (
        SELECT array_agg(step) AS steps, array_agg(intermediate_value) AS vals,
               array_agg(intermediate_value_type::text) AS types
        FROM trial_intermediate_values WHERE trial_id = t.trial_id) iv ON true"""

#: One trial by id, after its study id (no row: no such trial).
GET_TRIAL = (
    f"SELECT t.study_id, {TRIAL_COLUMNS} FROM trials t {TRIAL_JOINS} WHERE t.trial_id = %(tid)s"
)


def study_trials(condition: str) -> str:
    """Trials of study ``%(sid)s`` matching ``condition`` (on ``t``), plus the study's own row:
    no row at all means no such study; one row whose ``trial_id`` is NULL, a study without
    matching trials."""
    return f"""
    SELECT s.study_id AS study_row, x.* FROM studies s
    LEFT JOIN LATERAL (
        SELECT {TRIAL_COLUMNS} FROM trials t {TRIAL_JOINS}
        WHERE t.study_id = s.study_id AND ({condition})
    ) x ON true
    WHERE s.study_id = %(sid)s"""


#: Incremental read: trials numbered above the watermark, and the unfinished ones below it.
TRIALS_SINCE = study_trials("t.number > %(wm)s OR t.trial_id = ANY(%(pending)s::int[])")
#: Ids of the study's trials in some states (RUNNING / WAITING, which are few), after the study's
#: own row: no row means no such study. Cheap to plan, so cheap on every ``study.ask()``.
TRIAL_IDS_IN_STATES = """
    SELECT s.study_id, t.trial_id FROM studies s
    LEFT JOIN trials t ON t.study_id = s.study_id
        AND t.state = ANY(CAST(%(states)s AS trialstate[]))
    WHERE s.study_id = %(sid)s"""
#: Trials by id, after their study id.
TRIALS_BY_IDS = f"""
    SELECT t.study_id, {TRIAL_COLUMNS} FROM trials t {TRIAL_JOINS}
    WHERE t.trial_id = ANY(%(ids)s::int[])"""
#: What the stock storage's ``_get_trials`` returns (used when Optuna's cache wraps us).
TRIALS_AFTER_ID = study_trials(
    "(t.trial_id > %(gt)s OR t.trial_id = ANY(%(inc)s::int[]))"
    " AND (%(any_state)s OR t.state = ANY(CAST(%(states)s AS trialstate[])))"
)

#: Serialises trial creation in a study with the lock stock Optuna takes (``FOR UPDATE`` on the
#: study row conflicts with this one), without blocking foreign-key checks on the study row.
LOCK_STUDY = "SELECT study_id FROM studies WHERE study_id = %(sid)s FOR NO KEY UPDATE"

#: A new trial numbered after the study's last one (an index probe on (study_id, number), where
#: stock Optuna counts every earlier trial of the study). ``{extra}`` adds CTEs that read ``t``.
INSERT_TRIAL = """
    WITH t AS (
        INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete)
        SELECT coalesce(max(number) + 1, 0), %(sid)s, CAST(%(state)s AS trialstate),
               %(start)s, %(complete)s
        FROM trials WHERE study_id = %(sid)s
        RETURNING trial_id, number
    ){extra}
    SELECT trial_id, number FROM t"""

#: The first heartbeat of a trial, written with the trial itself.
HEARTBEAT_CTE = """,
    hb AS (
        INSERT INTO trial_heartbeats (trial_id, heartbeat) SELECT trial_id, LOCALTIMESTAMP FROM t
        ON CONFLICT (trial_id) DO UPDATE SET heartbeat = EXCLUDED.heartbeat
    )"""

#: ``t``: the trial when it can still be written (not finished), else no row.
UPDATABLE_CTE = """
    WITH t AS (
        SELECT trial_id FROM trials
        WHERE trial_id = %(tid)s AND state IN ('RUNNING', 'WAITING')
    )"""

#: Children of trial ``t`` (new or updatable), one CTE per kind of row written.
PARAMS_CTE = """,
    w_params AS (
        INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json)
        SELECT t.trial_id, x.name, x.value, x.dist
        FROM t, unnest(%(p_names)s::text[], %(p_vals)s::float8[], %(p_dists)s::text[])
             WITH ORDINALITY AS x(name, value, dist, ord)
        ORDER BY x.ord
        ON CONFLICT (trial_id, param_name) DO NOTHING
        RETURNING 1
    )"""


def _attrs_cte(name: str, table: str, prefix: str) -> str:
    """Upsert a trial's attributes (``%(<prefix>_keys)s``, ``%(<prefix>_vals)s``) into ``table``."""
    return f""",
    {name} AS (
        INSERT INTO {table} (trial_id, key, value_json)
        SELECT t.trial_id, x.key, x.value
        FROM t, unnest(%({prefix}_keys)s::text[], %({prefix}_vals)s::text[]) AS x(key, value)
        ON CONFLICT (trial_id, key) DO UPDATE SET value_json = EXCLUDED.value_json
    )"""


USER_ATTRS_CTE = _attrs_cte("w_user", "trial_user_attributes", "u")
SYSTEM_ATTRS_CTE = _attrs_cte("w_system", "trial_system_attributes", "s")
INTERMEDIATE_CTE = """,
    w_intermediate AS (
        INSERT INTO trial_intermediate_values
            (trial_id, step, intermediate_value, intermediate_value_type)
        SELECT t.trial_id, x.step, x.value, CAST(x.kind AS trialintermediatevaluetype)
        FROM t, unnest(%(i_steps)s::int[], %(i_vals)s::float8[], %(i_types)s::text[])
             AS x(step, value, kind)
        ON CONFLICT (trial_id, step) DO UPDATE SET
            intermediate_value = EXCLUDED.intermediate_value,
            intermediate_value_type = EXCLUDED.intermediate_value_type
    )"""
VALUES_CTE = """,
    w_values AS (
        INSERT INTO trial_values (trial_id, objective, value, value_type)
        SELECT t.trial_id, x.objective, x.value, CAST(x.kind AS trialvaluetype)
        FROM t, unnest(%(v_objs)s::int[], %(v_vals)s::float8[], %(v_types)s::text[])
             AS x(objective, value, kind)
        ON CONFLICT (trial_id, objective) DO UPDATE SET
            value = EXCLUDED.value, value_type = EXCLUDED.value_type
    )"""

#: After :data:`UPDATABLE_CTE` and children: did the trial accept the writes, how many params
#: were new.
WRITE_RESULT = """
    SELECT (SELECT count(*) FROM t) AS updatable, {params} AS new_params"""

#: Finish a trial (or set any state but RUNNING) if it is not finished yet, with its values.
FINISH_TRIAL = """
    WITH t AS (
        UPDATE trials SET state = CAST(%(state)s AS trialstate), datetime_complete = %(complete)s
        WHERE trial_id = %(tid)s AND state IN ('RUNNING', 'WAITING')
        RETURNING trial_id
    ){extra}
    SELECT count(*) FROM t"""

#: Hand a WAITING trial out: it becomes RUNNING (one winner under concurrency: the row lock
#: makes a second UPDATE re-check ``state``), with a first heartbeat when ``{extra}`` says so.
START_WAITING_TRIAL = """
    WITH t AS (
        UPDATE trials SET state = 'RUNNING', datetime_start = %(start)s
        WHERE trial_id = %(tid)s AND state = 'WAITING'
        RETURNING trial_id
    ){extra}
    SELECT count(*) FROM t"""

RECORD_HEARTBEAT = """
    INSERT INTO trial_heartbeats (trial_id, heartbeat) VALUES (%(tid)s, LOCALTIMESTAMP)
    ON CONFLICT (trial_id) DO UPDATE SET heartbeat = EXCLUDED.heartbeat"""

#: Heartbeats are local wall time of the session, as stock Optuna writes them.
STALE_TRIALS = """
    SELECT t.trial_id FROM trials t JOIN trial_heartbeats h ON h.trial_id = t.trial_id
    WHERE t.study_id = %(sid)s AND t.state = 'RUNNING'
      AND h.heartbeat < LOCALTIMESTAMP - %(grace)s * interval '1 second'"""

#: The study's distribution of a param, if any earlier trial has it: walks the study's trials
#: (index on study_id) and probes (trial_id, param_name) for each; stops at the first hit.
PARAM_DISTRIBUTION = """
    SELECT dist FROM (
        SELECT (SELECT p.distribution_json FROM trial_params p
                WHERE p.trial_id = t.trial_id AND p.param_name = %(name)s) AS dist
        FROM trials t WHERE t.study_id = %(sid)s
    ) x WHERE dist IS NOT NULL LIMIT 1"""

TRIAL_STUDY_AND_STATE = "SELECT study_id, state::text FROM trials WHERE trial_id = %(tid)s"

TRIAL_ID_BY_NUMBER = (
    "SELECT trial_id FROM trials WHERE study_id = %(sid)s AND number = %(number)s LIMIT 1"
)

N_TRIALS = """
    SELECT count(t.trial_id) FROM studies s
    LEFT JOIN trials t ON t.study_id = s.study_id
        AND (%(any_state)s OR t.state = ANY(CAST(%(states)s AS trialstate[])))
    WHERE s.study_id = %(sid)s GROUP BY s.study_id"""

STUDY_DIRECTIONS = """
    SELECT s.study_id, d.direction::text FROM studies s
    LEFT JOIN study_directions d ON d.study_id = s.study_id
    WHERE s.study_id = %(sid)s ORDER BY d.objective"""


def create_trial_script(
    study_id: int,
    start: datetime,
    *,
    heartbeat: bool,
    budget: TrialBudget | None = None,
    grace_s: float | None = None,
) -> str:
    """Create a RUNNING trial in one round trip. The statements of one message run as one
    transaction, each with its own snapshot (so the insert sees every trial committed before the
    locks were granted), and the locks are held only while the server runs them, never while a
    client is descheduled between statements. The last result is one row: the new trial's id
    and number (NULL when none was created), whether the study exists, and the study's
    :class:`~hpo.storage.budget.SlotCounts` (counted within ``budget``, zeros without one;
    heartbeats older than ``grace_s`` are stale).
    Only integers and a timestamp are inlined: a message of several statements takes no bound
    parameters."""
    sid, stamp = int(study_id), start.isoformat(sep=" ")
    statements = []
    counts = "SELECT 0 AS total, 0 AS running, 0 AS failed, 0 AS waiting, 0 AS stale"
    allowed = "true"
    if budget is not None:
        statements.append(
            f"SELECT pg_advisory_xact_lock({int(budget.lock[0])}, {int(budget.lock[1])})"
        )
        grace = "NULL" if grace_s is None else repr(float(grace_s))
        counts = _COUNTS.format(sid=sid, grace=grace)
        allowed = f"c.total - c.failed - c.waiting < {int(budget.n_trials)} AND c.stale = 0"
        if budget.max_failed > 0:
            allowed += f" AND c.failed < {int(budget.max_failed)}"
        if budget.skip_waiting:
            allowed += " AND c.waiting = 0"
    statements.append(f"SELECT study_id FROM studies WHERE study_id = {sid} FOR NO KEY UPDATE")
    statements.append(
        f"""WITH c AS ({counts}),
    s AS (SELECT count(*) AS found FROM studies WHERE study_id = {sid}),
    t AS (
        INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete)
        SELECT coalesce(max(number) + 1, 0), {sid}, 'RUNNING', '{stamp}'::timestamp, NULL
        FROM trials WHERE study_id = {sid}
        HAVING (SELECT found FROM s) = 1
           AND (SELECT {allowed} FROM c)
        RETURNING trial_id, number
    ){HEARTBEAT_CTE if heartbeat else ""}
    SELECT (SELECT trial_id FROM t), (SELECT number FROM t), s.found,
           c.total, c.running, c.failed, c.waiting, c.stale
    FROM c, s"""
    )
    return ";\n".join(statements)


#: The counts of :class:`~hpo.storage.budget.SlotCounts` (``{sid}``, ``{grace}`` in seconds or
#: NULL), each its own probe of an index, so that none reads the table's rows: the trial count is
#: the last number plus one ((study_id, number)); FAIL and WAITING trials are counted from the
#: (study_id, state) index alone (an index-only scan: FAIL trials grow with the study, a few
#: percent of it); only the RUNNING trials, which are few, are read, for their heartbeats.
_COUNTS = """
        SELECT (SELECT coalesce(max(number) + 1, 0) FROM trials WHERE study_id = {sid}) AS total,
               r.running,
               (SELECT count(*) FROM trials WHERE study_id = {sid} AND state = 'FAIL') AS failed,
               (SELECT count(*) FROM trials WHERE study_id = {sid} AND state = 'WAITING')
                   AS waiting,
               r.stale
        FROM (SELECT count(*) AS running, count(*) FILTER (WHERE EXISTS (
                     SELECT 1 FROM trial_heartbeats h WHERE h.trial_id = trials.trial_id
                     AND h.heartbeat < LOCALTIMESTAMP - {grace} * interval '1 second')) AS stale
              FROM trials WHERE study_id = {sid} AND state = 'RUNNING') r"""


#: Slots taken in the study: every trial but FAIL and WAITING ones (the trial count is the last
#: number plus one; the FAIL and WAITING trials are counted through the (study_id, state) index).
_SLOTS_TAKEN = """(
        (SELECT coalesce(max(number) + 1, 0) FROM trials WHERE study_id = %(sid)s)
        - (SELECT count(*) FROM trials WHERE study_id = %(sid)s AND state IN ('FAIL', 'WAITING'))
    )"""


def start_waiting_script(
    trial_id: int,
    study_id: int,
    start: datetime,
    *,
    heartbeat: bool,
    lock: tuple[int, int],
    n_trials: int,
) -> str:
    """Hand WAITING trial ``trial_id`` of ``study_id`` out within a budget, in one round trip
    (see :func:`create_trial_script`). Results: the claimers' lock, then 1 if the trial is now
    RUNNING, 0 if another worker took it or no slot is left."""
    sid, tid, stamp = int(study_id), int(trial_id), start.isoformat(sep=" ")
    extra = HEARTBEAT_CTE if heartbeat else ""
    return f"""SELECT pg_advisory_xact_lock({int(lock[0])}, {int(lock[1])});
    WITH t AS (
        UPDATE trials SET state = 'RUNNING', datetime_start = '{stamp}'::timestamp
        WHERE trial_id = {tid} AND study_id = {sid} AND state = 'WAITING'
          AND {_SLOTS_TAKEN % {"sid": sid}} < {int(n_trials)}
        RETURNING trial_id
    ){extra}
    SELECT count(*) FROM t"""


def statement_count(message: str) -> int:
    """How many SQL statements one execute sends: one, or several separated by ``;`` (the
    messages of :func:`create_trial_script` and :func:`start_waiting_script`; no statement
    here has a ``;`` inside a literal). For counting statements per trial honestly."""
    return sum(1 for part in message.split(";") if part.strip())
