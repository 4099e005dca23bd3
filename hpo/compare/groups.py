"""Comparison groups in the study store: the studies of one comparison, tied together.

Two tables of the service's own, next to Optuna's (which are never altered):

* ``hpo_comparison_groups``: one row per comparison (name unique, the spec's name and hash, the
  budget, seeds and samplers, status, and the report as JSON once it is built);
* ``hpo_comparison_members``: one row per study (sampler, seed, study name, the budget it really
  got and why, when that differs from the group's).

The tables are created once per process under the store-wide schema advisory lock (the one
:mod:`hpo.store` takes while it creates Optuna's tables), so concurrent first runs do not race.
Creating a group that exists with the same plan resumes it (its studies resume too); with another
plan it is refused.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from hpo.errors import StoreStateError
from hpo.store import LOCK_NAMESPACE, SCHEMA_LOCK, get_storage
from hpo.study_setup import effective_direction, spec_hash

if TYPE_CHECKING:
    from hpo.compare.models import ComparisonReport
    from hpo.compare.plan import ComparisonPlan

GroupStatus = Literal["running", "done", "failed"]

metadata = MetaData()

groups_table = Table(
    "hpo_comparison_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(120), nullable=False, unique=True),
    Column("spec_name", String(100), nullable=False),
    Column("spec_hash", String(64), nullable=False),
    Column("objective", Text, nullable=False),
    Column("direction", String(8), nullable=False),
    Column("n_trials", Integer, nullable=False),
    Column("seeds", JSONB, nullable=False),
    Column("samplers", JSONB, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("target", Float, nullable=True),
    Column("report", JSONB, nullable=True),
)

members_table = Table(
    "hpo_comparison_members",
    metadata,
    Column(
        "group_id",
        Integer,
        ForeignKey("hpo_comparison_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("sampler", String(32), primary_key=True),
    Column("seed", Integer, primary_key=True),
    Column("study_name", String(512), nullable=False, unique=True),
    Column("budget", Integer, nullable=False),
    Column("budget_note", Text, nullable=True),
)

_created: set[str] = set()  # database URLs (in memory only, never shown)
_created_lock = threading.Lock()


def ensure_tables(engine: Engine) -> None:
    """Create the two tables if missing, once per database and process, under the store-wide
    schema advisory lock."""
    key = engine.url.render_as_string(hide_password=False)
    with _created_lock:
        if key in _created:
            return
        with engine.begin() as conn:
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                {"ns": LOCK_NAMESPACE, "key": SCHEMA_LOCK},
            )
            metadata.create_all(conn, checkfirst=True)
        _created.add(key)


class MemberRecord(BaseModel):
    """One study of a group."""

    model_config = ConfigDict(frozen=True)

    sampler: str
    seed: int
    study_name: str
    budget: int
    budget_note: str | None


class GroupRecord(BaseModel):
    """A comparison group as stored."""

    model_config = ConfigDict(frozen=True)

    name: str
    spec_name: str
    spec_hash: str
    objective: str
    direction: str
    n_trials: int
    seeds: tuple[int, ...]
    samplers: tuple[str, ...]
    status: str
    created_at: datetime
    updated_at: datetime
    target: float | None
    members: tuple[MemberRecord, ...]
    has_report: bool


def _storage(storage: optuna.storages.RDBStorage | None) -> optuna.storages.RDBStorage:
    storage = storage or get_storage()
    ensure_tables(storage.engine)
    return storage


def create_group(
    plan: ComparisonPlan,
    *,
    target: float | None = None,
    storage: optuna.storages.RDBStorage | None = None,
) -> GroupRecord:
    """Store the group and its members; resume it when it exists with the same plan."""
    storage = _storage(storage)
    row: dict[str, Any] = {
        "name": plan.group,
        "spec_name": plan.spec.name,
        "spec_hash": spec_hash(plan.spec),
        "objective": plan.spec.objective,
        "direction": effective_direction(plan.spec),
        "n_trials": plan.n_trials,
        "seeds": list(plan.seeds),
        "samplers": list(plan.arms),
        "status": "running",
        "target": target,
    }
    with storage.engine.begin() as conn:
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:ns, hashtext(:name))"),
            {"ns": LOCK_NAMESPACE, "name": f"compare:{plan.group}"},
        )
        existing = conn.execute(
            select(groups_table).where(groups_table.c.name == plan.group)
        ).one_or_none()
        if existing is not None:
            same = ("spec_hash", "n_trials", "seeds", "samplers")
            diff = [k for k in same if existing._mapping[k] != row[k]]
            if diff:
                raise StoreStateError(
                    f"comparison group {plan.group!r} already exists with another "
                    f"{', '.join(diff)} (stored: "
                    + ", ".join(f"{k}={existing._mapping[k]!r}" for k in diff)
                    + ")",
                    fix="pass another --group name, or the same spec, samplers, seeds and "
                    "--n-trials to resume it",
                )
            conn.execute(
                update(groups_table)
                .where(groups_table.c.id == existing.id)
                .values(status="running", target=target, report=None, updated_at=func.now())
            )
        else:
            group_id = conn.execute(
                groups_table.insert().values(**row).returning(groups_table.c.id)
            ).scalar_one()
            conn.execute(
                members_table.insert(),
                [
                    {
                        "group_id": group_id,
                        "sampler": m.arm,
                        "seed": m.seed,
                        "study_name": m.study_name,
                        "budget": m.budget,
                        "budget_note": m.note,
                    }
                    for m in plan.members
                ],
            )
    return load_group(plan.group, storage=storage)


def set_status(
    group: str,
    status: GroupStatus,
    *,
    report: ComparisonReport | None = None,
    storage: optuna.storages.RDBStorage | None = None,
) -> None:
    """Mark the group running, done or failed (and store its report)."""
    storage = _storage(storage)
    values: dict[str, Any] = {"status": status, "updated_at": func.now()}
    if report is not None:
        values["report"] = report.model_dump(mode="json")
    with storage.engine.begin() as conn:
        conn.execute(update(groups_table).where(groups_table.c.name == group).values(**values))


def _missing(group: str) -> StoreStateError:
    return StoreStateError(
        f"no comparison group named {group!r} in the study store",
        fix="list the groups with hpo.compare.list_groups(), or run `hpo compare` first",
    )


def load_group(group: str, *, storage: optuna.storages.RDBStorage | None = None) -> GroupRecord:
    """The group ``group`` with its members."""
    storage = _storage(storage)
    with storage.engine.connect() as conn:
        row = conn.execute(select(groups_table).where(groups_table.c.name == group)).one_or_none()
        if row is None:
            raise _missing(group)
        members = conn.execute(
            select(members_table)
            .where(members_table.c.group_id == row.id)
            .order_by(members_table.c.sampler, members_table.c.seed)
        ).all()
    return _record(row._mapping, [m._mapping for m in members])


def _record(row: Any, members: list[Any]) -> GroupRecord:
    return GroupRecord(
        name=row["name"],
        spec_name=row["spec_name"],
        spec_hash=row["spec_hash"],
        objective=row["objective"],
        direction=row["direction"],
        n_trials=row["n_trials"],
        seeds=tuple(row["seeds"]),
        samplers=tuple(row["samplers"]),
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        target=row["target"],
        has_report=row["report"] is not None,
        members=tuple(
            MemberRecord(
                sampler=m["sampler"],
                seed=m["seed"],
                study_name=m["study_name"],
                budget=m["budget"],
                budget_note=m["budget_note"],
            )
            for m in members
        ),
    )


def list_groups(*, storage: optuna.storages.RDBStorage | None = None) -> list[str]:
    """Every comparison group's name, newest first."""
    storage = _storage(storage)
    with storage.engine.connect() as conn:
        query = select(groups_table.c.name).order_by(groups_table.c.created_at.desc())
        return list(conn.execute(query).scalars())


def load_report(
    group: str, *, storage: optuna.storages.RDBStorage | None = None
) -> ComparisonReport:
    """The report of comparison group ``group``, as the flow stored it."""
    from hpo.compare.models import ComparisonReport

    storage = _storage(storage)
    with storage.engine.connect() as conn:
        row = conn.execute(
            select(groups_table.c.status, groups_table.c.report).where(groups_table.c.name == group)
        ).one_or_none()
    if row is None:
        raise _missing(group)
    if row.report is None:
        raise StoreStateError(
            f"comparison group {group!r} has no report yet (status {row.status!r})",
            fix="wait for its compare run to finish, or run the same `hpo compare` again to "
            "resume it",
        )
    return ComparisonReport.model_validate(row.report)
