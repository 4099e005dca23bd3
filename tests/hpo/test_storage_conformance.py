"""Optuna's own storage conformance suite (``optuna.testing.pytest_storages.StorageTestCase``)
against PostgreSQL, for the fast store as Optuna gets it from ``hpo.study_setup``: the direct view,
which delegates every call to the ``FastRDBStorage`` (so the suite runs the storage's own code;
running it on the storage itself as well doubled the time and covered nothing more). Stock
``RDBStorage`` passes it too (Optuna's own CI).

The suite expects an empty store per test (``get_all_studies`` counts studies): the tests share a
database of their own, emptied before each test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import optuna
import psycopg
import pytest
from optuna.testing.pytest_storages import StorageTestCase
from sqlalchemy.engine import make_url

from hpo.storage import FastRDBStorage, optuna_storage
from hpo.store import libpq_url


def _database_url(pg_url: str, name: str) -> str:
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def _admin(pg_url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(libpq_url(_database_url(pg_url, "postgres")), autocommit=True)


@pytest.fixture(scope="module")
def conformance_database(pg_url: str) -> Iterator[str]:
    """A database of its own with Optuna's tables (and the fast store's indexes)."""
    name = f"hpo_conformance_{uuid.uuid4().hex[:8]}"
    with _admin(pg_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _database_url(pg_url, name)
    try:
        FastRDBStorage(url).engine.dispose()
        yield url
    finally:
        with _admin(pg_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["fast-direct"])
def storage(
    request: pytest.FixtureRequest, conformance_database: str
) -> Iterator[optuna.storages.BaseStorage]:
    # The suite expects an empty store: empty every table that hangs off `studies` (ids restart),
    # and build a new storage, so no cache of an earlier test survives.
    with psycopg.connect(libpq_url(conformance_database), autocommit=True) as conn:
        conn.execute("TRUNCATE studies RESTART IDENTITY CASCADE")
    fast = FastRDBStorage(conformance_database)
    yield optuna_storage(fast) if request.param == "fast-direct" else fast
    fast.engine.dispose()


class TestStorageConformance(StorageTestCase):
    """Every test of Optuna's suite, run once per storage of the ``storage`` fixture."""
