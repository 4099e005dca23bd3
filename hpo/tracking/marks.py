"""What was mirrored to which MLflow server, kept in PostgreSQL beside the studies (layer:
execution). MLflow is a mirror: these rows say what it already holds, so a sync is idempotent
and what failed is retried.

* ``hpo_mlflow_runs``: one row per (server, study, trial number) with the MLflow run it became;
  trial number -1 is the study's own (parent) run. A row is claimed with a lease while a worker
  logs it (``claimed_until``), so parallel workers and syncs never log a trial twice, and a
  worker that died mid-way frees it when the lease ends.
* ``hpo_mlflow_promotions``: one row per (server, promotion): ``pending`` until the promoted
  model is logged, registered and its stage alias set; then ``synced`` with the model version.

``server`` is a hash of the tracking URI (:func:`hpo.tracking.client.server_key`): another
MLflow server gets its own mirror.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hpo.store import LOCK_NAMESPACE

metadata = sa.MetaData()

runs = sa.Table(
    "hpo_mlflow_runs",
    metadata,
    sa.Column("server", sa.Text, primary_key=True),
    sa.Column("study_id", sa.Integer, primary_key=True),
    sa.Column("trial_number", sa.Integer, primary_key=True),  # -1: the study's own run
    sa.Column("run_id", sa.Text, nullable=True),
    sa.Column("synced", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)

promotions = sa.Table(
    "hpo_mlflow_promotions",
    metadata,
    sa.Column("server", sa.Text, primary_key=True),
    sa.Column("promotion_id", sa.BigInteger, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),  # pending | synced
    sa.Column("model_path", sa.Text, nullable=False),
    sa.Column("model_name", sa.Text, nullable=True),
    sa.Column("model_version", sa.Text, nullable=True),
    sa.Column("run_id", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.CheckConstraint("state IN ('pending', 'synced')", name="hpo_mlflow_promotions_state"),
)

_created: set[int] = set()
_SCHEMA_LOCK = sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext('hpo_mlflow:schema'))")


def create_tables(engine: Engine) -> None:
    """Create the tables if missing, once per engine (safe to race: under a lock)."""
    if id(engine) in _created:
        return
    with engine.begin() as conn:
        conn.execute(_SCHEMA_LOCK, {"ns": LOCK_NAMESPACE})
        metadata.create_all(conn)
    _created.add(id(engine))


#: Take (or create) the row of one trial for this worker if nobody logs it now and it is not
#: synced yet; returns its run id (None: no run created yet). No row back: skip it.
CLAIM_TRIAL = sa.text(
    """
    WITH new AS (
        INSERT INTO hpo_mlflow_runs (server, study_id, trial_number, claimed_until, attempts)
        VALUES (:server, :study_id, :number, now() + make_interval(secs => :lease_s), 1)
        ON CONFLICT DO NOTHING
        RETURNING run_id
    ), old AS (
        UPDATE hpo_mlflow_runs
        SET claimed_until = now() + make_interval(secs => :lease_s),
            attempts = attempts + 1, updated_at = now()
        WHERE server = :server AND study_id = :study_id AND trial_number = :number
          AND NOT synced AND (claimed_until IS NULL OR claimed_until < now())
        RETURNING run_id
    )
    SELECT run_id, true AS fresh FROM new
    UNION ALL
    SELECT run_id, false AS fresh FROM old
    """
)


def claim_trial(engine: Engine, server: str, study_id: int, number: int, lease_s: float) -> Any:
    """The claimed row (``run_id``, ``fresh``), or None when it is synced or claimed by another
    worker."""
    params = {"server": server, "study_id": study_id, "number": number, "lease_s": lease_s}
    with engine.begin() as conn:
        return conn.execute(CLAIM_TRIAL, params).first()


def set_run(engine: Engine, server: str, study_id: int, number: int, run_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(runs).where(_key(server, study_id, number)).values(run_id=run_id))


def release(
    engine: Engine, server: str, study_id: int, number: int, *, error: str | None = None
) -> None:
    """End the claim: synced when ``error`` is None, else pending with the error."""
    values: dict[str, Any] = {"claimed_until": None, "error": error, "updated_at": sa.func.now()}
    if error is None:
        values["synced"] = True
    with engine.begin() as conn:
        conn.execute(sa.update(runs).where(_key(server, study_id, number)).values(**values))


def _key(server: str, study_id: int, number: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        runs.c.server == server, runs.c.study_id == study_id, runs.c.trial_number == number
    )


#: Finished trials of a study with no synced run on the server, oldest first.
UNSYNCED = sa.text(
    """
    SELECT t.trial_id, t.number FROM trials t
    WHERE t.study_id = :study_id AND t.state IN ('COMPLETE', 'PRUNED', 'FAIL')
      AND NOT EXISTS (
        SELECT 1 FROM hpo_mlflow_runs m
        WHERE m.server = :server AND m.study_id = :study_id AND m.trial_number = t.number
          AND m.synced)
    ORDER BY t.number
    LIMIT :limit
    """
)


def unsynced_trials(
    engine: Engine, server: str, study_id: int, limit: int = 100_000
) -> list[tuple[int, int]]:
    """(trial_id, number) of the finished trials not yet synced to ``server``."""
    with engine.connect() as conn:
        rows = conn.execute(UNSYNCED, {"server": server, "study_id": study_id, "limit": limit})
        return [(int(r.trial_id), int(r.number)) for r in rows]


def synced_count(engine: Engine, server: str, study_id: int) -> int:
    with engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count())
            .select_from(runs)
            .where(runs.c.server == server, runs.c.study_id == study_id, runs.c.synced)
            .where(runs.c.trial_number >= 0)
        ).scalar_one()
    return int(count)
