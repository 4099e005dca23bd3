"""A real ``mlflow server`` for tests and benchmarks (layer: execution): its backend store is a
database of its own (``mlflow_<hex>``) on the study store's PostgreSQL, its artifacts a local
directory served through the server (``--serve-artifacts``). Not for production: it listens on
127.0.0.1 with one worker, and its database is dropped when it stops.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from hpo.store import libpq_url, normalize_url


@dataclass(frozen=True)
class MlflowServer:
    uri: str  # http://127.0.0.1:PORT
    port: int
    database: str
    artifacts: Path
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def mlflow_server(
    study_db_url: str, work_dir: Path, timeout_s: float = 180.0
) -> Iterator[MlflowServer]:
    """Start ``mlflow server`` on a free port with a new database beside the study store's;
    stop it and drop the database at the end."""
    url = make_url(normalize_url(study_db_url))
    name = f"mlflow_{uuid.uuid4().hex[:10]}"
    admin = libpq_url(url.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = MlflowServer(
        uri=f"http://127.0.0.1:{port}",
        port=port,
        database=name,
        artifacts=work_dir / "artifacts",
        log=work_dir / "mlflow-server.log",
    )
    backend = url.set(database=name).render_as_string(hide_password=False)
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend,
        "--serve-artifacts", "--artifacts-destination", str(server.artifacts),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with server.log.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
            cwd=work_dir,
        )  # fmt: skip
    try:
        _wait_healthy(server, process, timeout_s)
        yield server
    finally:
        _stop(process)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _wait_healthy(server: MlflowServer, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited ({process.returncode}); see {server.log}")
        try:
            with urllib.request.urlopen(server.uri + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"mlflow server not healthy after {timeout_s:.0f} s; see {server.log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (it runs uvicorn in a child), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)
