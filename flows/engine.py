"""The command a process work pool runs for each flow run: ``python -m hpo.flows.engine``.

Left to choose the command itself, Prefect 3.8's process worker starts two Python processes per
flow run: a workspace supervisor (``prefect.runner._workspace_supervisor``: imports Prefect,
reads the flow run, prepares a working directory, looks for a ``uv`` project) and then
``python -m prefect.engine``. Our deployments name installed modules and pull nothing, so the
supervisor has nothing to prepare; the pools' job templates (``infra/pool_templates/*.json``) set
this command instead, and each flow run is one process: the engine itself.

Its imports run with the cyclic garbage collector off and are then frozen, as the ``hpo``
command does (``hpo/cli/startup.py``): Prefect, Optuna and SQLAlchemy are a few hundred thousand
objects that live as long as the process, and collecting while they import costs about a third
of a trial worker's start-up (measured: 2.3 s -> 1.5 s of CPU, docs/fanout-benchmark.md). The
collector is back on before the flow runs, so trials collect their garbage as usual.

``python`` is the worker's own interpreter: ``hpo worker start`` puts its directory first on the
worker's ``PATH``, which flow runs inherit.

A process worker started by ``hpo worker start`` also has a resident process with these imports
done (``hpo.flows.zygote``, its socket in ``HPO_ENGINE_SOCKET``): then this command imports
nothing heavy and is its thin client (:func:`run_in_zygote`): the flow run is a fork of that
process with this one's argv, directory, environment and stdin/stdout/stderr; this process
forwards SIGTERM/SIGINT to it and exits as it does. A SIGKILL of this process kills the flow run
too. Without an answering zygote (no variable, refused, stale socket) the imports happen here.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import runpy
import signal
import socket
import struct
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# The client/zygote wire protocol (hpo.flows.zygote imports it from here: this module stays light).
SOCKET_ENV = "HPO_ENGINE_SOCKET"
HEADER = struct.Struct("!Q")  # the request's JSON length; the three fds ride on it
REPLY = struct.Struct("!cq")  # b"P" + child pid, then b"S" + wait status


#: What a trial-worker flow run imports on its way to its first trial besides the modules above
#: (listed from a run's ``sys.modules``): Prefect's task engine and flow-graph helpers, anyio's
#: event loop backend, SQLAlchemy's PostgreSQL dialect, the Alembic that Optuna's storage checks
#: the schema version with (with Mako and Pygments), NumPy's generators (the zygote reseeds them),
#: httpx's IDNA codec. In the zygote they are imported once; left out, each of W flow runs
#: starting at once imports them (about 0.1 s of CPU each), and on a small machine the children
#: that wait for the CPU start their first trial later (docs/fanout-benchmark.md).
LAZY_IMPORTS = (
    "prefect.task_engine",
    "prefect._internal.states",
    "prefect.utilities.visualization",
    "anyio._backends._asyncio",
    "sqlalchemy.dialects.postgresql.psycopg",
    "optuna.storages._rdb.models",
    "alembic.migration",
    "alembic.script",
    "numpy.random",
    "encodings.idna",
)


def preload() -> None:
    """Import what a flow run of the pools needs, with the collector off; then freeze it all."""
    gc.disable()
    try:
        import prefect.engine  # noqa: F401
        import prefect.flow_engine  # noqa: F401

        import hpo.flows.trial_worker  # noqa: F401  (the flow most runs of the pools start)

        for name in LAZY_IMPORTS:
            try:
                importlib.import_module(name)
            except ImportError:  # a newer release moved it: the flow run imports what it needs
                pass
        warm_up()
    finally:
        gc.freeze()
        gc.enable()


def warm_up() -> None:
    """Do once, before any fork, what each flow run would otherwise do for itself on its way to
    its first trial (measured in a fork of this process: about 70 ms of CPU per flow run):

    * complete the Pydantic models Prefect defines with deferred schemas (``FlowRun``, ``State``
      and the rest of its client schemas are built on first validation);
    * read the installed Optuna's schema head (:mod:`hpo.storage.schema_version`);
    * configure SQLAlchemy's mappers (Optuna's models, on the storage's first query).
    """
    import pydantic
    import sqlalchemy.orm

    from hpo.storage.schema_version import optuna_schema_head

    pending = pydantic.BaseModel.__subclasses__()
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.__dict__.get("__pydantic_complete__", True):
            try:
                cls.model_rebuild(raise_errors=False)
            except Exception:  # noqa: BLE001, S110 - left to be built where it is used, as before
                pass
    optuna_schema_head()
    sqlalchemy.orm.configure_mappers()


def recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError("the other side closed the connection")
        buf += chunk
    return buf


def _recv_reply(conn: socket.socket) -> tuple[bytes, int]:
    kind, value = REPLY.unpack(recv_exact(conn, REPLY.size))
    return kind, value


#: Flows whose runs go without Prefect's flow-run suspension observer (:func:`unobserved`).
UNOBSERVED_FLOWS = frozenset({"hpo-trial-worker"})


def unobserved(flow_names: frozenset[str] = UNOBSERVED_FLOWS) -> None:
    """Run the flows named here without Prefect's flow-run suspension observer.

    For a run of a deployment, Prefect 3.8's engine starts the observer before it proposes
    Running and waits for it (``prefect._flow_run_suspension.observe_flow_run_suspension``): a
    thread with an event loop and an API client of its own, a subscription to the server's event
    stream (which the server opens with a query of the last minute's events) and a read of the
    run. What it hears of, a suspension requested from outside, takes effect when a task of the
    run starts. A trial worker starts one task, which runs trials until the study's budget is
    taken: the observer could only act after the last trial, and it costs each trial worker its
    start on a server that W of them reach at once (docs/fanout-benchmark.md: Pending -> Running
    about a second shorter at W = 8). The run's suspension request stays registered in the
    process, as Prefect does it; every other flow keeps the observer.
    """
    from prefect.flow_engine import BaseFlowRunEngine

    try:  # Prefect's internals: a release that moved them keeps its own behaviour (the test fails)
        from prefect._flow_run_suspension import register_flow_run_suspension_request

        observed = BaseFlowRunEngine.setup_flow_run_suspension_request
    except (ImportError, AttributeError):
        return
    if getattr(observed, "unobserved_flows", None) == flow_names:
        return

    @contextmanager
    def setup_flow_run_suspension_request(self: Any) -> Iterator[Any]:
        if self.flow.name not in flow_names or self.flow_run is None:
            with observed(self) as request:
                yield request
            return
        request = self._get_flow_run_suspension_request()
        with register_flow_run_suspension_request(self.flow_run.id, request):
            request.raise_if_requested()
            yield request

    setup_flow_run_suspension_request.unobserved_flows = flow_names  # type: ignore[attr-defined]
    BaseFlowRunEngine.setup_flow_run_suspension_request = setup_flow_run_suspension_request  # type: ignore[method-assign]


def run_engine(argv: list[str]) -> int:
    """Run Prefect's engine as ``python -m prefect.engine ARGV[1:]`` would (its imports already
    in), the trial workers without the suspension observer (:func:`unobserved`): its exit code."""
    unobserved()
    sys.argv = ["prefect.engine", *argv[1:]]
    # The module is imported already (preloaded); running it again as __main__ is what we want.
    warnings.filterwarnings(
        "ignore", message="'prefect.engine' found in sys.modules", category=RuntimeWarning
    )
    try:
        runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1


def run_in_zygote(path: str) -> int | None:
    """Run this flow run as a fork of the zygote at ``path``: its wait status, or None if no
    zygote answers (nothing was started then)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return None
    payload = json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    try:
        socket.send_fds(conn, [HEADER.pack(len(payload))], [0, 1, 2])
        conn.sendall(payload)
        kind, pid = _recv_reply(conn)
    except (OSError, EOFError):
        conn.close()
        return None
    if kind != b"P":
        return None

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        kind, status = _recv_reply(conn)
    except (OSError, EOFError):  # the handler is gone: the child cannot be waited for
        print("hpo.flows.engine: lost the flow run's process", file=sys.stderr)
        return 1 << 8
    return status


def exit_as(status: int) -> None:
    """Exit as a process with this wait status did: same code, or killed by the same signal."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code
    sys.exit(code)


def main() -> None:
    """``python -m hpo.flows.engine [FLOW_RUN_ID]``: what ``python -m prefect.engine`` does."""
    path = os.environ.get(SOCKET_ENV)
    if path:
        status = run_in_zygote(path)
        if status is not None:
            exit_as(status)
    preload()
    sys.exit(run_engine(sys.argv))


if __name__ == "__main__":
    main()
