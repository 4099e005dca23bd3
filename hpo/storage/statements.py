"""Running the fast store's statements on the engine's pooled connections, without the ORM.

:class:`StatementRunner` checks a DBAPI (psycopg) connection out of the storage engine's pool,
runs one statement (or one multi-statement message) in autocommit mode, and gives the connection
back as it found it (``autocommit`` off, as SQLAlchemy expects). It skips what a SQLAlchemy
``Connection`` costs per statement (about 0.25 ms of client CPU here: the Connection object,
switching the isolation level at checkout and back at checkin, the result wrapper), which is a
large part of a statement whose server side is an index probe. The pool, and so the connection
budget, pre-ping and invalidation, stay SQLAlchemy's.

What stays the same for callers:

* errors are SQLAlchemy's (:class:`sqlalchemy.exc.IntegrityError`, ``OperationalError`` with
  ``connection_invalidated`` when the server went away, and so on), built from psycopg's the way
  SQLAlchemy builds them; a connection the server dropped is invalidated, not returned to the
  pool;
* every message is reported to the engine's ``before_cursor_execute`` listeners (the statement
  counters of the tests and benchmarks), with ``conn`` and ``context`` None: there is no
  SQLAlchemy ``Connection``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError


class StatementRunner:
    """Runs statements for one engine (see the module doc). Thread safe: each call checks out
    its own connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run(self, statement: str, params: dict[str, Any] | None) -> list[Sequence[Any]]:
        """One statement in its own transaction (a write is committed when this returns); its
        rows (empty for a statement that returns none). ``params`` None: ``statement`` is sent as
        it is, and may hold several statements (one message, one transaction); then the rows are
        those of the last statement."""
        fairy = self.engine.raw_connection()
        conn: psycopg.Connection[Any] = fairy.driver_connection  # type: ignore[assignment]
        cursor: psycopg.Cursor[Any] | None = None
        try:
            conn.autocommit = True
            cursor = conn.cursor()
            dispatch = self.engine.dispatch.before_cursor_execute
            if dispatch:
                dispatch(None, cursor, statement, params or {}, None, False)
            if params is None:
                cursor.execute(statement)  # no parameters: the simple query protocol
            else:
                cursor.execute(statement, params)
            rows: list[Sequence[Any]] = cursor.fetchall() if cursor.description else []
            while cursor.nextset():
                rows = cursor.fetchall() if cursor.description else []
            cursor.close()
            conn.autocommit = False
            return rows
        except psycopg.Error as exc:
            dbapi_error: Any = exc  # psycopg's errors are the DBAPI errors SQLAlchemy's types name
            lost = self.engine.dialect.is_disconnect(dbapi_error, fairy, cast(Any, cursor))
            lost = lost or conn.closed
            if lost:
                fairy.invalidate(exc)
            elif not conn.closed:
                _restore(conn)
            raise DBAPIError.instance(
                statement,
                params,
                exc,
                psycopg.Error,
                connection_invalidated=lost,
                dialect=self.engine.dialect,
            ) from exc
        finally:
            fairy.close()


def _restore(conn: psycopg.Connection[Any]) -> None:
    """Put a connection that failed a statement back as SQLAlchemy expects it (autocommit off,
    no transaction open)."""
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        conn.autocommit = False
    except psycopg.Error:
        conn.close()  # the pool replaces a closed connection
