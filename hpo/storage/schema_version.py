"""Whether a store's tables are at the installed Optuna's schema version, checked cheaply.

Building an ``RDBStorage`` checks that the store's Alembic revision is the head of the installed
Optuna's migrations; Optuna finds that head by loading all ten of its migration scripts (each
defines its own SQLAlchemy models) on every build: about 30 ms of CPU, paid by every trial-worker
process, and W of them start at once on a small machine (docs/fanout-benchmark.md). The head does
not change while a process runs, so :func:`optuna_schema_head` reads it once per process (the
process worker's fork server reads it before it forks: hpo.flows.engine), and
:func:`hpo.store.get_storage` skips Optuna's own check when the store's revision equals it. When
they differ, Optuna's check runs as before and raises its own error (with its upgrade advice).
"""

from __future__ import annotations

import functools
import os

import psycopg


@functools.cache
def optuna_schema_head() -> str | None:
    """The Alembic head revision of the installed Optuna's RDB schema; None when it cannot be
    read this way (a release that moved its migrations): then callers keep Optuna's check."""
    try:
        import optuna.storages._rdb.storage as rdb
        from alembic.script import ScriptDirectory

        script = ScriptDirectory(os.path.join(os.path.dirname(rdb.__file__), "alembic"))
        return script.get_current_head()
    except Exception:  # noqa: BLE001 - any failure means: let Optuna check
        return None


def store_revision(conn: psycopg.Connection[tuple[object, ...]]) -> str | None:
    """The Alembic revision the store's tables are stamped with; None when there is none (the
    connection must be in autocommit mode: a missing table fails only this statement)."""
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return None if row is None else str(row[0])


def at_head(revision: str | None) -> bool:
    """Whether a store stamped ``revision`` is at the installed Optuna's schema head."""
    return revision is not None and revision == optuna_schema_head()
