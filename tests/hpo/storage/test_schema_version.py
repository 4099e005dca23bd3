"""The schema version check a trial worker skips: the head it compares with is Optuna's own, and
a store that is not at it is still refused, with Optuna's own advice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from hpo.settings import DatabaseSettings, HpoSettings
from hpo.storage.schema_version import at_head, optuna_schema_head, store_revision
from hpo.store import _build_storage, get_storage, libpq_url


@pytest.fixture
def scratch_url(pg_url: str) -> Iterator[str]:
    """A database of its own on the test server (its schema gets changed here)."""
    name = f"hpo_schema_{uuid.uuid4().hex[:8]}"
    admin = libpq_url(str(make_url(pg_url).set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_head_and_the_stored_revision_are_what_optuna_reports(pg_url: str) -> None:
    storage = get_storage(HpoSettings(database=DatabaseSettings(url=SecretStr(pg_url))))
    assert optuna_schema_head() == storage.get_head_version()
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as conn:
        revision = store_revision(conn)
    assert revision == storage.get_current_version()
    assert at_head(revision)
    assert not at_head(None)


def test_a_store_behind_the_installed_optuna_is_still_refused(scratch_url: str) -> None:
    settings = HpoSettings(database=DatabaseSettings(url=SecretStr(scratch_url)))
    with psycopg.connect(libpq_url(scratch_url), autocommit=True) as conn:
        assert store_revision(conn) is None  # no tables yet
    storage = _build_storage(scratch_url, settings)  # sets the schema up, at the head
    older = storage.get_all_versions()[1]  # the revision before the head
    storage.engine.dispose()
    with psycopg.connect(libpq_url(scratch_url), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = %s", (older,))
        assert store_revision(conn) == older
    with pytest.raises(RuntimeError, match="optuna storage upgrade"):
        _build_storage(scratch_url, settings)
