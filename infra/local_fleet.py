"""A whole fleet on one machine, as real processes: a ``prefect server``, the work pools, the
deployments (``hpo deploy``) and N ``prefect worker`` processes. Every process runs the installed
``hpo`` package with this interpreter, whose venv is taken off PATH (as if never activated);
``user_code`` puts the caller's own modules (objectives) on their path.

Used by the integration tests and the fan-out benchmark; also a recipe for a real installation
(every step is the command a person would type). The Prefect server's own database is PostgreSQL
when ``prefect_db_url`` is given (it needs the ``pg_trgm`` extension), else Prefect's SQLite.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from hpo.store import libpq_url


def create_prefect_database(study_db_url: str) -> tuple[str | None, Callable[[], None]]:
    """A fresh database for a Prefect server on the same PostgreSQL as the study store, with the
    ``pg_trgm`` extension Prefect needs; and a function that drops it. The embedded server lacks
    ``pg_trgm``: there (a Unix-socket URL) Prefect keeps its SQLite and this returns None."""
    url = make_url(study_db_url)
    if url.host is None:
        return None, lambda: None
    name = f"prefect_{uuid.uuid4().hex[:8]}"
    admin = libpq_url(url.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    own = url.set(database=name)
    with psycopg.connect(libpq_url(own.render_as_string(hide_password=False))) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    asyncpg_url = own.set(drivername="postgresql+asyncpg")
    return asyncpg_url.render_as_string(hide_password=False), drop


#: Seconds a stopped worker / server gets between SIGTERM and SIGKILL (:meth:`LocalFleet.stop`).
WORKER_GRACE_S = 5.0
SERVER_GRACE_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LocalFleet:
    """Start with :meth:`start_server`, :meth:`setup`, :meth:`start_worker`; stop with
    :meth:`stop`. ``env`` is what every child process gets (store URL, Prefect home...)."""

    home: Path
    study_db_url: str
    prefect_db_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    user_code: tuple[Path, ...] = ()  # PYTHONPATH of every process: modules of user objectives
    python: str = sys.executable  # the interpreter of every process (another venv: a baseline)
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "PREFECT_HOME": str(self.home / "prefect"),
                "PREFECT_API_URL": self.api_url,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_WORKER_PREFETCH_SECONDS": "5",
                "PREFECT_LOGGING_LEVEL": "INFO",
                "HPO_DATABASE_URL": self.study_db_url,
            }
        )
        env.pop("PYTHONPATH", None)
        if sys.prefix != sys.base_prefix:  # a venv: prove nothing runs from PATH (no activation)
            bin_dir = os.path.dirname(self.python)
            env["PATH"] = os.pathsep.join(
                p for p in env.get("PATH", "").split(os.pathsep) if p != bin_dir
            )
        if self.user_code:
            env["PYTHONPATH"] = os.pathsep.join(str(p) for p in self.user_code)
        if self.prefect_db_url:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = self.prefect_db_url
        env.update(self.extra_env)
        return env

    def _log(self, name: str) -> int:
        path = self.home / "logs" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def start_server(self, timeout_s: float = 120.0) -> None:
        log = self._log("server")
        self.server = subprocess.Popen(
            [
                self.python, "-m", "prefect", "server", "start",
                "--host", "127.0.0.1", "--port", str(self.port),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"prefect server exited; see {self.home / 'logs/server.log'}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"prefect server did not answer in {timeout_s} s")

    def hpo(self, *args: str, timeout_s: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run an ``hpo`` command against this fleet (raises on failure)."""
        return subprocess.run(
            [self.python, "-m", "hpo", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=True,
        )

    def setup(self) -> None:
        """Create the pools and the deployments."""
        self.hpo("pools", "create")
        self.hpo("deploy")

    def start_worker(
        self,
        pool: str = "cpu",
        name: str | None = None,
        gpu: int = 0,
        limit: int = 1,
        worker_type: str = "process",
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """``hpo worker start``; ``worker_type="docker"``: flow runs are containers (the
        environment's ``DOCKER_HOST``), and a GPU is Docker's device request, not ``--gpu``.
        ``env``: this worker's own additions to the fleet's environment."""
        name = name or f"{pool}-{len(self.workers)}"
        gpu_args = ["--gpu", str(gpu)] if pool == "gpu" and worker_type == "process" else []
        gpu_args += ["--limit", str(limit), "--type", worker_type]
        proc = subprocess.Popen(
            [
                self.python,
                "-m",
                "hpo",
                "worker",
                "start",
                "--pool",
                pool,
                "--name",
                name,
                *gpu_args,
            ],  # fmt: skip
            env={**self.env, **(env or {})},
            cwd=self.home,
            stdout=self._log(f"worker-{name}"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        """Stop the workers only (as :meth:`stop` does); the server keeps running."""
        _terminate(self.workers, WORKER_GRACE_S)
        self.workers.clear()

    def stop(self) -> None:
        """Stop the workers, then the server: SIGTERM, then SIGKILL after ``WORKER_GRACE_S``
        (workers) or ``SERVER_GRACE_S``. A teardown needs no graceful exit: in full-suite runs,
        workers sometimes outlasted a 20-s wait (124 s of one suite's teardowns; the cause was
        not found: alone, with or without runs in flight, they exit in under a second). Workers
        go first: one whose server is gone spends half a minute retrying its last calls."""
        self.stop_workers()
        if self.server is not None:
            _terminate([self.server], SERVER_GRACE_S)
        self.server = None


def _terminate(procs: list[subprocess.Popen[bytes]], grace_s: float) -> None:
    """SIGTERM each process group, then SIGKILL those still running after ``grace_s``."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
    for proc in procs:
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
