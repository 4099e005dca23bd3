"""The study store on a real PostgreSQL: URLs, masking, one engine per process, bounded pools,
table creation raced by concurrent processes."""

from __future__ import annotations

import multiprocessing
import threading
import uuid

import optuna
import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hpo.errors import ConfigError, StoreUnavailableError
from hpo.settings import DatabaseSettings, HpoSettings
from hpo.store import get_storage, libpq_url, mask_url, normalize_url


def test_normalize_url_uses_psycopg3() -> None:
    assert normalize_url("postgresql://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    assert normalize_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"


@pytest.mark.parametrize("url", ["sqlite:///x.db", "mysql://u@h/d"])
def test_non_postgres_store_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="must be PostgreSQL"):
        normalize_url(url)


def test_mask_url_hides_password() -> None:
    masked = mask_url("postgresql+psycopg://alice:s3cret@db:5432/hpo")
    assert "s3cret" not in masked
    assert "alice:***@db" in masked


def test_unreachable_store_error_is_masked() -> None:
    settings = HpoSettings(
        database=DatabaseSettings(
            url=SecretStr("postgresql://alice:s3cret-pw@127.0.0.1:1/hpo"), connect_timeout_s=2
        )
    )
    with pytest.raises(StoreUnavailableError) as info:
        get_storage(settings)
    message = str(info.value)
    assert "s3cret-pw" not in message
    assert "alice:***@127.0.0.1:1/hpo" in message
    assert info.value.retryable


def test_one_storage_per_process(pg_url: str) -> None:
    assert get_storage() is get_storage()


def test_threads_share_a_bounded_pool(pg_url: str) -> None:
    app = f"hpo-pool-{uuid.uuid4().hex[:6]}"  # only this test's engine has this name
    settings = HpoSettings(database=DatabaseSettings(url=SecretStr(pg_url), application_name=app))
    storage = get_storage(settings)
    study = optuna.create_study(storage=storage, study_name=f"pool-{uuid.uuid4().hex[:8]}")
    errors: list[BaseException] = []
    peak = 0

    def hammer() -> None:
        nonlocal peak
        try:
            for _ in range(5):
                trial = study.ask()
                study.tell(trial, 1.0)
                peak = max(peak, storage.engine.pool.checkedout())
        except BaseException as exc:  # noqa: B036 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    limit = storage.engine.pool.size() + storage.engine.pool._max_overflow  # type: ignore[attr-defined]
    assert peak <= limit
    with storage.engine.connect() as conn:
        opened = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = :app AND datname = current_database()"
            ),
            {"app": app},
        ).scalar_one()
    assert opened <= limit
    assert len(study.trials) == 80


def _build_storage_in_child(url: str, queue: multiprocessing.Queue[str]) -> None:
    try:
        settings = HpoSettings(database=DatabaseSettings(url=SecretStr(url)))
        storage = get_storage(settings)
        optuna.create_study(storage=storage, study_name=f"race-{uuid.uuid4().hex[:8]}")
        queue.put("ok")
    except BaseException as exc:  # noqa: B036 - reported to the parent
        queue.put(f"{type(exc).__name__}: {exc}")


def test_concurrent_first_runs_create_tables_once(pg_url: str) -> None:
    name = f"hpo_race_{uuid.uuid4().hex[:8]}"
    admin = libpq_url(str(make_url(pg_url).set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = str(make_url(pg_url).set(database=name).render_as_string(hide_password=False))
        ctx = multiprocessing.get_context("spawn")
        queue: multiprocessing.Queue[str] = ctx.Queue()
        procs = [ctx.Process(target=_build_storage_in_child, args=(url, queue)) for _ in range(4)]
        for p in procs:
            p.start()
        results = [queue.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        assert results == ["ok"] * 4
        with psycopg.connect(libpq_url(url)) as conn:
            n_studies = conn.execute("SELECT count(*) FROM studies").fetchone()
            versions = conn.execute("SELECT count(*) FROM version_info").fetchone()
        assert n_studies == (4,)
        assert versions == (1,)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_transient_errors_are_recognised_through_optunas_wrapper() -> None:
    from hpo.store import is_transient

    try:
        try:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        except psycopg.OperationalError as inner:
            raise optuna.exceptions.StorageInternalError("commit failed") from inner
    except optuna.exceptions.StorageInternalError as exc:
        assert is_transient(exc)
    assert not is_transient(ValueError("bad value"))
    assert not is_transient(optuna.exceptions.StorageInternalError("bad data"))


def test_retry_store_gives_up_with_a_retryable_error() -> None:
    from hpo.store import retry_store

    def down() -> None:
        raise psycopg.OperationalError("connection refused")

    with pytest.raises(StoreUnavailableError, match="stayed unreachable") as info:
        retry_store(down, what="test", window_s=0.6)
    assert info.value.retryable


def test_a_store_already_set_up_is_opened_without_the_schema_lock(pg_url: str) -> None:
    """W trial workers start at once: on a store whose schema is complete, none waits for the
    schema lock (held here by someone else for as long as the storage takes to open)."""
    from hpo.store import LOCK_NAMESPACE, SCHEMA_LOCK, _build_storage

    settings = HpoSettings(database=DatabaseSettings(url=SecretStr(pg_url)))
    get_storage(settings)  # the schema is complete
    opened: list[int] = []
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, SCHEMA_LOCK))
        worker = threading.Thread(
            target=lambda: opened.append(
                len(_build_storage(pg_url, settings).get_all_studies()) >= 0
            ),
            daemon=True,
        )
        worker.start()
        worker.join(timeout=60)  # a hang guard: on the lock's path it waits for the unlock
        opened_while_locked = list(opened)
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, SCHEMA_LOCK))
    worker.join(timeout=60)
    assert opened_while_locked == [True]
