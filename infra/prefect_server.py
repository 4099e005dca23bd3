"""A local Prefect server with its UI as a background process the ``hpo`` commands reuse.

``hpo server start`` runs ``python -m prefect server start`` detached, with its own
``PREFECT_HOME`` (so its SQLite database) under the service's data directory, on a free loopback
port, its output in a log file; a small JSON state file records the pid and the URL. While it is
up, every ``hpo`` command points ``PREFECT_API_URL`` at it (``hpo.cli.server``), so flow runs
stay in the UI after the command ends instead of vanishing with Prefect's ephemeral server.
``stop`` sends SIGTERM to the server's process group and waits.

Plain functions over the filesystem and the process table; no Prefect import here (the server is
a child process), so the CLI can decide on ``PREFECT_API_URL`` before Prefect is imported.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from hpo.errors import ConfigError, HpoError
from hpo.infra.processes import pid_alive
from hpo.settings import HpoSettings

STATE_FILE = "server.json"
LOG_FILE = "server.log"
LOCK_FILE = "server.lock"
#: The port Prefect's own docs use; taken when free and no port is configured.
PREFERRED_PORT = 4200


class ServerStartError(HpoError, RuntimeError):
    """The server process exited or did not answer in time (its log says why)."""


class ServerState(BaseModel):
    """What the state file records about a running local server."""

    model_config = ConfigDict(frozen=True)

    pid: int
    host: str
    port: int
    home: Path
    log: Path
    started_at: datetime

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def server_dir(settings: HpoSettings) -> Path:
    """Where the local server keeps its state file, log and ``PREFECT_HOME``."""
    return settings.server.dir or settings.database.data_dir / "prefect-server"


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def pick_port(host: str, wanted: int | None) -> int:
    """``wanted`` when given (it must be free), else 4200 when free, else any free port."""
    if wanted is not None:
        if not port_free(host, wanted):
            raise ConfigError(
                f"port {wanted} on {host} is already in use",
                fix="pick another with --port (or HPO_SERVER_PORT), or omit it for a free one",
            )
        return wanted
    if port_free(host, PREFERRED_PORT):
        return PREFERRED_PORT
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    if not pid_alive(pid):
        return False
    # A pid can be reused: make sure it is still a prefect server (Linux /proc; elsewhere trust).
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        args = cmdline.read_bytes().split(b"\0")
        return b"prefect" in args and b"server" in args
    return True


def read_state(directory: Path) -> ServerState | None:
    """The running server's state, or None (a stale file of a dead server is removed)."""
    path = directory / STATE_FILE
    try:
        state = ServerState.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None
    if not _alive(state.pid):
        path.unlink(missing_ok=True)
        return None
    return state


def healthy(state: ServerState, timeout_s: float = 2.0) -> bool:
    """Does the server's API answer ``/health``?"""
    try:
        with urllib.request.urlopen(f"{state.api_url}/health", timeout=timeout_s) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One start or stop at a time per directory (two commands autostarting at once)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _child_env(home: Path, host: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_", "PREFECT_UI_"))}
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": host,
            "PREFECT_SERVER_API_PORT": str(port),
            # The UI's browser code calls this URL; Prefect's default is port 4200 whatever
            # --port says, which would show another server's runs (or none).
            "PREFECT_UI_API_URL": f"http://{host}:{port}/api",
            "PREFECT_UI_ENABLED": "true",
        }
    )
    return env


def start(settings: HpoSettings, port: int | None = None) -> ServerState:
    """Start the server and wait until it answers; fails when one already runs here."""
    directory = server_dir(settings)
    with _locked(directory):
        running = read_state(directory)
        if running is not None:
            raise ConfigError(
                f"a local Prefect server is already running at {running.ui_url} "
                f"(pid {running.pid})",
                fix="use it as it is, or stop it first with `hpo server stop`",
            )
        return _spawn(settings, directory, port)


def ensure_running(settings: HpoSettings) -> tuple[ServerState, bool]:
    """The running server, or a new one; and whether this call started it."""
    directory = server_dir(settings)
    with _locked(directory):
        running = read_state(directory)
        if running is not None:
            return running, False
        return _spawn(settings, directory, settings.server.port), True


def _spawn(settings: HpoSettings, directory: Path, port: int | None) -> ServerState:
    host = settings.server.host
    chosen = pick_port(host, port if port is not None else settings.server.port)
    home = directory / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    log_path = directory / LOG_FILE
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "prefect", "server", "start",
                "--host", host, "--port", str(chosen),
            ],
            env=_child_env(home, host, chosen),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the command that started it
            cwd=directory,
        )  # fmt: skip
    finally:
        os.close(log)
    state = ServerState(
        pid=proc.pid, host=host, port=chosen, home=home, log=log_path, started_at=datetime.now(UTC)
    )
    deadline = time.monotonic() + settings.server.startup_timeout_s
    while not healthy(state):
        if proc.poll() is not None:
            raise ServerStartError(
                f"the Prefect server exited with code {proc.returncode} while starting",
                fix=f"see its log {log_path}",
            )
        if time.monotonic() > deadline:
            _terminate(proc.pid)
            raise ServerStartError(
                f"the Prefect server did not answer within {settings.server.startup_timeout_s} s",
                fix=f"see its log {log_path}; raise HPO_SERVER_STARTUP_TIMEOUT_S on a slow machine",
            )
        time.sleep(0.3)
    (directory / STATE_FILE).write_text(state.model_dump_json(indent=2))
    return state


def _terminate(pid: int, timeout_s: float = 20.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child
            if not _pid_exists(pid):
                return
            time.sleep(0.2)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():  # a zombie (exited, not reaped by its parent) counts as gone
        with contextlib.suppress(OSError, IndexError):
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def stop(settings: HpoSettings) -> ServerState | None:
    """Stop the running server (SIGTERM to its process group, SIGKILL after 20 s); the state it
    had, or None when none was running."""
    directory = server_dir(settings)
    with _locked(directory):
        state = read_state(directory)
        if state is None:
            return None
        _terminate(state.pid)
        (directory / STATE_FILE).unlink(missing_ok=True)
        return state


def status_lines(state: ServerState) -> list[str]:
    """What ``hpo server status`` prints for a running server."""
    return [
        f"UI:      {state.ui_url}",
        f"API:     {state.api_url}",
        f"pid:     {state.pid}",
        f"health:  {'ok' if healthy(state) else 'not answering'}",
        f"started: {state.started_at.isoformat(timespec='seconds')}",
        f"data:    {state.home}",
        f"log:     {state.log}",
    ]


def state_json(state: ServerState) -> str:
    return json.dumps({**state.model_dump(mode="json"), "ui_url": state.ui_url,
                       "api_url": state.api_url, "healthy": healthy(state)}, indent=2)  # fmt: skip
