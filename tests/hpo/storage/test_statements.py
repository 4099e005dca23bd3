"""StatementRunner on a real PostgreSQL: rows, errors as SQLAlchemy's, connections given back as
SQLAlchemy expects them, a dropped connection invalidated, statements reported to listeners."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from hpo.storage.statements import StatementRunner


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = sqlalchemy.create_engine(pg_url, pool_size=1, max_overflow=0)
    yield eng
    eng.dispose()


@pytest.fixture
def table(engine: Engine) -> Iterator[str]:
    name = f"t_runner_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {name} (k int PRIMARY KEY, v text)"))
    yield name
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {name}"))


def test_rows_params_and_multi_statement_messages(engine: Engine, table: str) -> None:
    runner = StatementRunner(engine)
    assert runner.run(f"INSERT INTO {table} VALUES (%(k)s, %(v)s)", {"k": 1, "v": "a"}) == []
    rows = runner.run(f"SELECT k, v FROM {table} WHERE k = %(k)s", {"k": 1})
    assert [tuple(r) for r in rows] == [(1, "a")]
    # A message of several statements: one transaction, the rows of the last statement.
    last = runner.run(f"INSERT INTO {table} VALUES (2, 'b'); SELECT count(*) FROM {table}", None)
    assert [tuple(r) for r in last] == [(2,)]


def test_writes_are_committed_and_the_connection_is_handed_back_in_transaction_mode(
    engine: Engine, table: str
) -> None:
    runner = StatementRunner(engine)
    runner.run(f"INSERT INTO {table} VALUES (1, 'a')", {})
    with engine.connect() as conn:  # the pool's only connection, back in SQLAlchemy's hands
        assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
        conn.execute(text(f"INSERT INTO {table} VALUES (2, 'b')"))
        conn.rollback()  # a real transaction: rolled back
    rows = runner.run(f"SELECT k FROM {table} ORDER BY k", {})
    assert [r[0] for r in rows] == [1]


def test_errors_are_sqlalchemys_and_leave_the_connection_usable(engine: Engine, table: str) -> None:
    runner = StatementRunner(engine)
    runner.run(f"INSERT INTO {table} VALUES (1, 'a')", {})
    with pytest.raises(IntegrityError):
        runner.run(f"INSERT INTO {table} VALUES (1, 'again')", {})
    with pytest.raises(IntegrityError):  # in a multi-statement message too; nothing is kept
        runner.run(
            f"INSERT INTO {table} VALUES (5, 'x'); INSERT INTO {table} VALUES (1, 'y')", None
        )
    rows = runner.run(f"SELECT k, v FROM {table} ORDER BY k", {})
    assert [tuple(r) for r in rows] == [(1, "a")]
    with engine.begin() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_a_connection_the_server_dropped_is_invalidated(engine: Engine) -> None:
    runner = StatementRunner(engine)
    pid = runner.run("SELECT pg_backend_pid()", {})[0][0]
    with sqlalchemy.create_engine(engine.url).connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(OperationalError) as caught:
        runner.run("SELECT 1", {})
    assert caught.value.connection_invalidated
    assert runner.run("SELECT 2", {})[0][0] == 2  # a fresh connection from the pool
    assert runner.run("SELECT pg_backend_pid()", {})[0][0] != pid


def test_statements_reach_before_cursor_execute_listeners(engine: Engine) -> None:
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        StatementRunner(engine).run("SELECT %(a)s::int", {"a": 1})
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert seen == ["SELECT %(a)s::int"]
