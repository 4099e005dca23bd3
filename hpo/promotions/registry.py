"""The promotion registry: every promotion decision ever made, and the current champions.

One table, ``hpo_promotions`` (beside Optuna's tables, never touching them). Each gate run adds
one row: ``promoted`` (the new champion), ``rejected`` (with the reason) or ``unchanged`` (the
candidate already is the champion). Rows are never deleted or rewritten except the
``is_champion`` flag, which moves from the old champion to the new one in the same transaction.
PostgreSQL enforces **exactly one champion per (pipeline, stage)** with a partial unique index,
and one ``promoted`` row per idempotency key, so a promotion run twice promotes once.

A study of several objectives also fills ``selection`` (JSON): the promotion rule as declared,
the chosen trial's values per objective in the study and re-evaluated, and the champion's
re-evaluated values. Columns added after the table's first release are added to an existing
table by :func:`create_tables` (nullable, so stored rows stay as they were).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection, Engine

from hpo.store import LOCK_NAMESPACE

metadata = sa.MetaData()

promotions = sa.Table(
    "hpo_promotions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("pipeline", sa.Text, nullable=False),
    sa.Column("stage", sa.Text, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),  # promoted | rejected | unchanged
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("is_champion", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("study_name", sa.Text, nullable=False),
    sa.Column("trial_number", sa.Integer, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("value", sa.Float, nullable=True),  # the trial's value in the study
    sa.Column("reeval_value", sa.Float, nullable=True),  # mean of the gate's re-evaluation
    sa.Column("reeval_detail", sa.JSON, nullable=True),
    sa.Column("champion_reeval_value", sa.Float, nullable=True),
    sa.Column("metric", sa.Text, nullable=True),
    sa.Column("direction", sa.Text, nullable=False),
    sa.Column("margin", sa.Float, nullable=False),
    sa.Column("objective", sa.Text, nullable=False),
    sa.Column("dataset", sa.Text, nullable=True),
    sa.Column("sampler", sa.Text, nullable=True),
    sa.Column("seed", sa.Integer, nullable=True),
    sa.Column("spec_hash", sa.Text, nullable=True),
    sa.Column("dataset_fingerprint", sa.Text, nullable=True),
    sa.Column("code_version", sa.Text, nullable=True),
    sa.Column("promoted_by", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Column("selection", sa.JSON, nullable=True),  # several objectives: rule, values
    sa.CheckConstraint(
        "decision IN ('promoted', 'rejected', 'unchanged')", name="hpo_promotions_decision"
    ),
    sa.CheckConstraint("NOT is_champion OR decision = 'promoted'", name="hpo_champion_promoted"),
    sa.Index(
        "hpo_promotions_one_champion",
        "pipeline",
        "stage",
        unique=True,
        postgresql_where=sa.text("is_champion"),
    ),
    sa.Index(
        "hpo_promotions_promote_once",
        "idempotency_key",
        unique=True,
        postgresql_where=sa.text("decision = 'promoted'"),
    ),
    sa.Index("hpo_promotions_history", "pipeline", "stage", "created_at"),
)


class Promotion(BaseModel):
    """One row of the registry."""

    model_config = ConfigDict(frozen=True)

    id: int
    pipeline: str
    stage: str
    decision: str
    reason: str
    is_champion: bool
    study_name: str
    trial_number: int
    params: dict[str, Any]
    value: float | None
    reeval_value: float | None
    reeval_detail: dict[str, Any] | None
    champion_reeval_value: float | None
    metric: str | None
    direction: str
    margin: float
    objective: str
    dataset: str | None
    sampler: str | None
    seed: int | None
    spec_hash: str | None
    dataset_fingerprint: str | None
    code_version: str | None
    promoted_by: str
    idempotency_key: str
    created_at: datetime
    #: Several objectives: ``rule`` (as declared), ``rule_text``, ``objectives``,
    #: ``constraints``, ``front`` (trial numbers), ``tied``, ``study_values``, ``candidate``,
    #: ``candidate_constraints``, ``champion`` (re-evaluated values per objective); else None.
    selection: dict[str, Any] | None = None


_PIPELINE_LOCK = sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))")
#: Columns added to the table after its first release: (name, PostgreSQL type), nullable.
_ADDED_COLUMNS = (("selection", "JSON"),)


def create_tables(engine: Engine) -> None:
    """Create the registry table and its indexes if missing (safe to race: under a lock)."""
    with engine.begin() as conn:
        conn.execute(_PIPELINE_LOCK, {"ns": LOCK_NAMESPACE, "key": "hpo_promotions:schema"})
        metadata.create_all(conn)
        # A table made before them: add them (ALTER only when missing: it locks the table).
        present = {c["name"] for c in sa.inspect(conn).get_columns(promotions.name)}
        for name, sql_type in _ADDED_COLUMNS:
            if name not in present:
                conn.execute(sa.text(f"ALTER TABLE {promotions.name} ADD COLUMN {name} {sql_type}"))


def lock_pipeline_stage(conn: Connection, pipeline: str, stage: str) -> None:
    """Serialize gate runs of one (pipeline, stage) for the rest of the transaction."""
    conn.execute(_PIPELINE_LOCK, {"ns": LOCK_NAMESPACE, "key": json.dumps([pipeline, stage])})


def champion(conn: Connection, pipeline: str, stage: str) -> Promotion | None:
    row = conn.execute(
        sa.select(promotions).where(
            promotions.c.pipeline == pipeline,
            promotions.c.stage == stage,
            promotions.c.is_champion,
        )
    ).one_or_none()
    return _model(row) if row is not None else None


def insert(conn: Connection, values: dict[str, Any]) -> Promotion:
    """Add a decision row; a ``promoted`` row first takes the champion flag from the old one."""
    if values["decision"] == "promoted":
        conn.execute(
            sa.update(promotions)
            .where(
                promotions.c.pipeline == values["pipeline"],
                promotions.c.stage == values["stage"],
                promotions.c.is_champion,
            )
            .values(is_champion=False)
        )
        values = {**values, "is_champion": True}
    row = conn.execute(sa.insert(promotions).values(**values).returning(promotions)).one()
    return _model(row)


def history(
    engine: Engine, pipeline: str | None = None, stage: str | None = None, limit: int = 100
) -> list[Promotion]:
    """Decisions, newest first."""
    query = sa.select(promotions).order_by(promotions.c.id.desc()).limit(limit)
    if pipeline is not None:
        query = query.where(promotions.c.pipeline == pipeline)
    if stage is not None:
        query = query.where(promotions.c.stage == stage)
    with engine.connect() as conn:
        return [_model(r) for r in conn.execute(query)]


def champions(engine: Engine, pipeline: str | None = None) -> list[Promotion]:
    """The current champion of every (pipeline, stage)."""
    query = (
        sa.select(promotions)
        .where(promotions.c.is_champion)
        .order_by(promotions.c.pipeline, promotions.c.stage)
    )
    if pipeline is not None:
        query = query.where(promotions.c.pipeline == pipeline)
    with engine.connect() as conn:
        return [_model(r) for r in conn.execute(query)]


def get(engine: Engine, promotion_id: int) -> Promotion | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(promotions).where(promotions.c.id == promotion_id)
        ).one_or_none()
    return _model(row) if row is not None else None


def _model(row: Any) -> Promotion:
    data = dict(row._mapping)
    for key in ("params", "reeval_detail", "selection"):
        if isinstance(data.get(key), str):
            data[key] = json.loads(data[key])
    return Promotion.model_validate(data)
