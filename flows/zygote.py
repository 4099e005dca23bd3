"""A process worker's resident, pre-imported fork server ("zygote"): ``python -m hpo.flows.zygote``.

Each flow run of a process pool starts ``python -m hpo.flows.engine``, and on a small machine
eight of them importing Prefect, Optuna and SQLAlchemy at once is most of a trial worker's
start-up (docs/fanout-benchmark.md). ``hpo worker start`` therefore starts this process beside
the Prefect worker: it imports what the engine preloads once (:func:`hpo.flows.engine.preload`),
then serves a Unix socket (``HPO_ENGINE_SOCKET``, in a private 0700 directory; flow runs inherit
the worker's environment). The engine command is a thin client of it
(:func:`hpo.flows.engine.main`): it sends its argv, working directory and environment and
passes its stdin/stdout/stderr; here a handler is forked per request (reaped without waiting:
this process never waits on a flow run), and the handler forks the engine child that runs the
flow run with the client's environment and descriptors. The handler relays the child's pid and
exit status to the client; if the client goes away (SIGKILL), the handler SIGKILLs the child at
once.

This process starts no thread and no event loop (Prefect's import starts none: checked by
tests/flows/test_zygote.py), so forking it is safe. It dies with its worker (PR_SET_PDEATHSIG,
and it also exits when its parent changes).
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import shutil
import signal
import socket
import sys
from typing import Any, NoReturn

from hpo.flows.engine import HEADER, REPLY, SOCKET_ENV, preload, recv_exact, run_engine

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` to this process when the thread that started it exits."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the getppid() check still applies
        pass


def read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The client's request: ``{"argv", "cwd", "env"}`` and its stdin/stdout/stderr fds."""
    head, fds, _flags, _addr = socket.recv_fds(conn, HEADER.size, 3)
    head += recv_exact(conn, HEADER.size - len(head))
    (size,) = HEADER.unpack(head)
    request = json.loads(recv_exact(conn, size))
    if len(fds) != 3:
        raise EOFError(f"expected 3 descriptors, got {len(fds)}")
    return request, fds


def become_client(request: dict[str, Any], fds: list[int]) -> None:
    """In the engine child: take on the client's environment, directory, descriptors and argv."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]  # as `python -m` puts the working directory first
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[1:1] = [p for p in extra if p not in sys.path]
    import random

    random.seed()  # forks of one process share its generator state otherwise
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    # Prefect read its settings from this process's environment when it was imported: rebuild
    # them (and the logging levels they set) from the client's.
    import prefect.context
    import prefect.logging.configuration

    prefect.context.refresh_global_settings_context()
    prefect.logging.configuration.setup_logging(incremental=True)


def engine_child(conn: socket.socket, request: dict[str, Any], fds: list[int]) -> NoReturn:
    code = 1
    try:
        conn.close()
        die_with_parent()  # the handler: if it is gone, so is the client's link to this run
        become_client(request, fds)
        code = run_engine(request["argv"])
    except BaseException:  # noqa: BLE001 - report like an interpreter would, then exit
        import traceback

        traceback.print_exc()
    finally:
        import atexit
        import threading

        try:
            threading._shutdown()  # type: ignore[attr-defined]  # what interpreter exit does
            atexit._run_exitfuncs()  # Prefect flushes its API log handler here
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code)


def handle(conn: socket.socket) -> NoReturn:
    """The per-request handler: fork the engine child, relay its pid and status to the client;
    if the client disappears first, SIGKILL the child."""
    try:
        request, fds = read_request(conn)
    except (EOFError, OSError, ValueError):
        os._exit(1)
    pid = os.fork()
    if pid == 0:
        engine_child(conn, request, fds)
    for fd in fds:
        os.close(fd)
    status = None
    try:
        conn.sendall(REPLY.pack(b"P", pid))
        pidfd = os.pidfd_open(pid)
        while status is None:
            ready, _, _ = select.select([conn.fileno(), pidfd], [], [])
            if pidfd in ready:
                _, status = os.waitpid(pid, 0)
            elif not conn.recv(64):  # EOF: the client is gone (killed)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os._exit(0)
        conn.sendall(REPLY.pack(b"S", status))
    except OSError:
        if status is None:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
    os._exit(0)


def reap_handlers() -> None:
    """Collect the handlers that have ended (they are this process's children; it never blocks
    on one, so a long flow run never holds up the next request)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(path: str) -> None:
    """Accept requests on ``path`` until the parent (the worker) is gone."""
    parent = os.getppid()
    die_with_parent(signal.SIGTERM)
    if os.getppid() != parent:  # pragma: no cover - the worker died before prctl
        return
    preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        while os.getppid() == parent:
            reap_handlers()
            ready, _, _ = select.select([listener], [], [], 1.0)
            if not ready:
                continue
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                handle(conn)
            conn.close()
            reap_handlers()
    finally:
        listener.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def main() -> None:
    path = os.environ.get(SOCKET_ENV)
    if not path:
        print(f"hpo.flows.zygote: {SOCKET_ENV} is not set", file=sys.stderr)
        sys.exit(2)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on the worker: the worker decides
    try:
        serve(path)
    finally:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


if __name__ == "__main__":
    main()
