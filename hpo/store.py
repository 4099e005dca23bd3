"""The study store: Optuna's RDB storage on PostgreSQL through psycopg 3.

Contract:

* **One engine per process.** :func:`get_storage` returns the same ``StudyStorage`` (and so the same
  SQLAlchemy engine and bounded pool) for every caller in a process, threads included. A process
  never holds more than ``pool_size + max_overflow`` connections, so W worker processes stay under
  ``W * (pool_size + max_overflow)``; size Postgres' ``max_connections`` (or PgBouncer) from that.
* **Tables created once.** Building the storage creates Optuna's tables and stamps their schema
  version under a PostgreSQL advisory lock, so concurrent first runs do not race.
* **Secrets stay secret.** URLs are shown only through :func:`mask_url` (every form libpq takes
  a password in, :mod:`hpo.redaction`); errors never carry the password.
* **PostgreSQL only.** SQLite and other back ends are refused: the service relies on Postgres
  locks and concurrency.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import optuna
import psycopg
import sqlalchemy
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from hpo.errors import ConfigError, StoreUnavailableError
from hpo.redaction import mask_url as mask_url  # re-exported: callers show URLs through it
from hpo.redaction import redact
from hpo.settings import HpoSettings, get_settings
from hpo.storage import FastRDBStorage, StudyStorage
from hpo.storage.indexes import ensure_store_indexes, missing_indexes
from hpo.storage.query_indexes import INDEXES as QUERY_INDEXES
from hpo.storage.query_indexes import ensure_query_indexes
from hpo.storage.schema_version import at_head, store_revision

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: First key of every advisory lock this service takes ('HPO' in ASCII); the second is a study id
#: or 0 for store-wide locks.
LOCK_NAMESPACE = 0x48504F
SCHEMA_LOCK = 0

_storages: dict[tuple[object, ...], StudyStorage] = {}
_storages_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """The SQLAlchemy URL for psycopg 3 (``postgresql://`` becomes ``postgresql+psycopg://``);
    a libpq key=value connection string (``host=db user=alice password=...``) is turned into a
    URL. Errors never show the URL, only what is wrong with it."""
    if "://" not in url and "=" in url:
        url = _dsn_to_url(url)
    if url.partition("://")[2].split("?", 1)[0].count("@") > 1:
        raise ConfigError(
            "HPO_DATABASE_URL holds an unescaped '@' in its user or password",
            fix="percent-encode '@' as %40 inside the password (e.g. p%40ss for p@ss)",
        )
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "HPO_DATABASE_URL is not a database URL",
            fix="use the form postgresql://user:password@host:5432/dbname",
        ) from None
    backend = parsed.get_backend_name()
    if backend != "postgresql":
        raise ConfigError(
            f"the study store must be PostgreSQL, but HPO_DATABASE_URL names {backend!r}",
            fix="point HPO_DATABASE_URL at PostgreSQL, or unset it to use the embedded server",
        )
    if parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _dsn_to_url(dsn: str) -> str:
    """A libpq key=value connection string as a ``postgresql://`` URL (same parameters)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except psycopg.ProgrammingError:
        raise ConfigError(
            "HPO_DATABASE_URL is neither a URL nor a valid key=value connection string",
            fix="use the form postgresql://user:password@host:5432/dbname",
        ) from None
    port = params.pop("port", None)
    return URL.create(
        "postgresql+psycopg",
        username=params.pop("user", None),
        password=params.pop("password", None),
        host=params.pop("host", None),
        port=int(port) if port and port.isdigit() else None,
        database=params.pop("dbname", None),
        query=params,
    ).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL without the SQLAlchemy driver suffix, for psycopg.connect()."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(settings: HpoSettings | None = None) -> str:
    """The study store's URL: ``HPO_DATABASE_URL``, or the embedded server started on demand."""
    settings = settings or get_settings()
    if settings.database.url is not None:
        return normalize_url(settings.database.url.get_secret_value())
    from hpo.infra.embedded_postgres import ensure_embedded_server

    return ensure_embedded_server(settings.database)


def get_storage(settings: HpoSettings | None = None) -> StudyStorage:
    """The process-wide Optuna storage on the study store (created on first call)."""
    settings = settings or get_settings()
    url = database_url(settings)
    # Keyed by everything the storage is built from: the same settings share one engine.
    key = (url, settings.database.model_dump_json(), settings.worker.model_dump_json())
    with _storages_lock:
        storage = _storages.get(key)
        if storage is None:
            storage = _build_storage(url, settings)
            _storages[key] = storage
        return storage


def _build_storage(url: str, settings: HpoSettings) -> StudyStorage:
    db, worker = settings.database, settings.worker
    engine_kwargs = {
        "pool_size": db.pool_size,
        "max_overflow": db.max_overflow,
        "pool_timeout": db.pool_timeout_s,
        "pool_pre_ping": True,
        "connect_args": {
            "connect_timeout": db.connect_timeout_s,
            "application_name": db.application_name,
            # PgBouncer in transaction mode cannot keep a server-side prepared statement.
            **({"prepare_threshold": None} if db.pgbouncer else {}),
        },
    }

    def build(skip_table_creation: bool, skip_compatibility_check: bool = False) -> StudyStorage:
        with warnings.catch_warnings():  # the heartbeat callback is experimental in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            kwargs: dict[str, Any] = {
                "heartbeat_interval": worker.heartbeat_interval_s,
                "grace_period": worker.grace_period_s,
                "heartbeat_stale_trial_callback": (
                    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=worker.max_retries)
                ),
                "skip_table_creation": skip_table_creation,
                "skip_compatibility_check": skip_compatibility_check,
            }
            if db.fast_store:
                return FastRDBStorage(
                    url, engine_kwargs=engine_kwargs, ensure_indexes=False, **kwargs
                )
            return StudyStorage(url, engine_kwargs=engine_kwargs, **kwargs)

    with _translate_db_errors(url):
        ready = _schema_ready(url, build, fast_store=db.fast_store)
        if ready is not None:
            return ready
        with _advisory_lock(url, SCHEMA_LOCK):
            storage = build(skip_table_creation=False)
            ensure_query_indexes(storage.engine)  # once per process, under the schema lock
            if db.fast_store:
                ensure_store_indexes(storage.engine)  # after the query's: they may cover ours
            return storage


def _schema_ready(
    url: str, build: Callable[[bool, bool], StudyStorage], *, fast_store: bool
) -> StudyStorage | None:
    """The storage, when the store's schema is all there already: no schema lock, no table
    creation, so W trial workers starting at once do not queue for the lock one after another.
    The query indexes are created last under the lock (after Optuna's tables and version row):
    while one is missing, a first run may be midway, and this returns None (set up, locked).
    A store at the installed Optuna's schema head skips Optuna's own version check (it would
    load Optuna's migration scripts again: :mod:`hpo.storage.schema_version`)."""
    with psycopg.connect(libpq_url(url), connect_timeout=10, autocommit=True) as conn:
        absent = conn.execute(
            "SELECT count(*) FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NULL",
            (list(QUERY_INDEXES),),
        ).fetchone()
        if absent is None or absent[0]:
            return None
        current = at_head(store_revision(conn))
    storage = build(True, current)
    if fast_store and missing_indexes(storage.engine):
        storage.engine.dispose()
        return None
    return storage


@contextmanager
def _advisory_lock(url: str, key: int) -> Iterator[None]:
    """A store-wide advisory lock held on a connection of its own (used before the engine
    exists, e.g. while creating tables)."""
    with psycopg.connect(libpq_url(url), connect_timeout=10, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, key))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, key))


@contextmanager
def _translate_db_errors(url: str) -> Iterator[None]:
    try:
        yield
    except (psycopg.OperationalError, DBAPIError, sqlalchemy.exc.OperationalError) as exc:
        raise unavailable(url, exc) from None


def unavailable(url: str, exc: BaseException) -> StoreUnavailableError:
    """A :class:`StoreUnavailableError` for ``exc`` with the URL masked and any password
    scrubbed from the driver's message."""
    detail = redact(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], url)
    return StoreUnavailableError(
        f"cannot reach the study store at {mask_url(url)} ({detail})",
        fix="check that PostgreSQL is running and HPO_DATABASE_URL is right, "
        "or unset HPO_DATABASE_URL to use the embedded server",
    )


def dispose_storages() -> None:
    """Close every pooled connection of this process (tests, and before a fork)."""
    with _storages_lock:
        for storage in _storages.values():
            storage.engine.dispose()
        _storages.clear()


def is_transient(exc: BaseException) -> bool:
    """True for errors that mean "the store is unreachable right now" (a restart, a network
    blip), as opposed to a bad query or bad data. Optuna wraps driver errors in
    ``StorageInternalError``, so the whole cause chain is looked at."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(
            seen,
            StoreUnavailableError
            | psycopg.OperationalError
            | psycopg.InterfaceError
            | sqlalchemy.exc.OperationalError
            | sqlalchemy.exc.InterfaceError,
        ):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_store(fn: Callable[[], T], *, what: str, window_s: float = 120.0) -> T:
    """Call ``fn`` until it succeeds, retrying transient store errors with backoff for up to
    ``window_s`` seconds (a PostgreSQL restart); then raise :class:`StoreUnavailableError`."""
    started = time.monotonic()
    delay = 0.5
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            waited = time.monotonic() - started
            if waited >= window_s:
                raise StoreUnavailableError(
                    f"the study store stayed unreachable for {waited:.0f} s while trying to "
                    f"{what} ({type(exc).__name__})",
                    fix="check PostgreSQL; the run can be retried and the study resumed",
                ) from None
            logger.warning("store unreachable while trying to %s; retrying in %.1f s", what, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
