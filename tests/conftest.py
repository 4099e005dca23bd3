"""Shared fixtures: a real PostgreSQL for every test that needs the store.

The server is ``HPO_TEST_DATABASE_URL`` when set (CI: 127.0.0.1:5432, trust auth), else the
embedded server under a temporary directory. Tests use unique study names instead of wiping the
database, so they can share one server and run against a store that already holds studies.
"""

from __future__ import annotations

import gc
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict

from hpo.settings import DatabaseSettings, apply_prefect_defaults, get_settings
from hpo.store import dispose_storages, normalize_url

if TYPE_CHECKING:
    from hpo.infra.local_fleet import LocalFleet

REPO = Path(__file__).resolve().parents[1]

apply_prefect_defaults()
# No test leaves a local Prefect server behind, nor reuses a developer's: commands run by tests
# never autostart one, and look for a running one in an empty directory of their own. The tests
# of `hpo server` start and stop theirs in a tmp data dir (tests/hpo/cli/test_server.py).
os.environ["HPO_SERVER_AUTOSTART"] = "false"
os.environ["HPO_SERVER_DIR"] = tempfile.mkdtemp(prefix="hpo-test-server-")


class _TestEnv(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HPO_TEST_", extra="ignore")

    database_url: str | None = None


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLAlchemy URL (psycopg 3) of the test PostgreSQL; also exported as HPO_DATABASE_URL so
    code under test and the subprocesses it starts use it."""
    env = _TestEnv()
    if env.database_url:
        url = normalize_url(env.database_url)
    else:
        from hpo.infra.embedded_postgres import ensure_embedded_server

        data_dir = tmp_path_factory.mktemp("embedded-pg")
        url = ensure_embedded_server(DatabaseSettings(data_dir=Path(data_dir)))
    saved = os.environ.get("HPO_DATABASE_URL")
    os.environ["HPO_DATABASE_URL"] = url
    get_settings.cache_clear()
    yield url
    dispose_storages()
    if saved is None:
        os.environ.pop("HPO_DATABASE_URL", None)
    else:
        os.environ["HPO_DATABASE_URL"] = saved
    get_settings.cache_clear()


@pytest.fixture(autouse=True, scope="module")
def _close_idle_store_connections() -> Iterator[None]:
    """After each test module, this process closes the store connections it keeps pooled (one
    engine per distinct settings, hpo.store) and those of engines no longer referenced: the
    test server's max_connections = 100 is shared with the session fleets' Prefect servers and
    the workers under test (measured: this process held 33 idle connections after 15 modules
    of tests/hpo; a docker-fleet test then met 'too many clients')."""
    yield
    dispose_storages()
    gc.collect()


@pytest.fixture(scope="session")
def session_fleet(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Iterator[LocalFleet]:
    """The session's one real `prefect server` (on the tests' PostgreSQL when there is one), not
    yet with pools, deployments or workers: tests/flows adds those (its ``shared_fleet``), and the
    commands other tests run in-process are pointed at it (:func:`prefect_api_env`) instead of
    each starting Prefect's ephemeral server (an import of the server and a fresh database's
    migrations per command: about 20 s each on a 2-core machine)."""
    from hpo.infra.local_fleet import LocalFleet, create_prefect_database

    home = Path(tmp_path_factory.mktemp("shared-fleet"))
    prefect_db, drop = create_prefect_database(pg_url)
    fleet = LocalFleet(
        home=home,
        study_db_url=pg_url,
        prefect_db_url=prefect_db,
        user_code=(REPO,),  # tests.objectives_fixture
        extra_env={"HPO_ARTIFACTS_DIR": str(home / "artifacts")},
    )
    try:
        fleet.start_server()
        yield fleet
    finally:
        fleet.stop()
        drop()


@pytest.fixture
def prefect_api_env(session_fleet: LocalFleet, tmp_path: Path) -> dict[str, str]:
    """The environment additions that point an ``hpo`` command at the session's server, with
    a Prefect home of the test's own (no profile of the developer's is read)."""
    return {"PREFECT_API_URL": session_fleet.api_url, "PREFECT_HOME": str(tmp_path / "prefect")}


@pytest.fixture
def study_name(request: pytest.FixtureRequest) -> str:
    """A study name no other test (or earlier run) uses."""
    return f"test-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"
