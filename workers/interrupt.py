"""Stopping trials that run in this process (layer: workers).

* **A stop request.** The first Ctrl-C of ``hpo tune`` sets it: workers claim no new trial, and
  a running trial is cut at its next ``context.report()`` (FAIL, "interrupted (Ctrl-C)").
* **Cutting a trial that never reports.** A Python thread cannot be killed, but an exception can
  be raised in it (``PyThreadState_SetAsyncExc``); it fires at the trial's next Python
  instruction: at once for code that loops or sleeps in Python, when the current C call returns
  for a long native call (a second Ctrl-C quits without waiting for that). The tune flow cuts
  what still runs ``HPO_WORKER_INTERRUPT_GRACE_S`` after a stop (:class:`TrialCut`); a worker
  cuts its own trial when ``budget.timeout_s`` has passed (:class:`TrialTimedOut`).

Exceptions are raised only while the objective runs (inside :func:`interruptible`), so they
always land where the trial loop turns them into a failed trial with its reason.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_requested = threading.Event()
_since: list[float] = []
_lock = threading.Lock()
_running: set[int] = set()  # idents of threads whose objective runs now


class TrialInterrupted(Exception):
    """The run is being stopped (Ctrl-C); raised by a trial's report."""


class TrialCut(TrialInterrupted):
    """Raised into a trial still running after the stop's grace period."""


class TrialTimedOut(Exception):
    """Raised into a trial still running when the study's ``budget.timeout_s`` has passed."""


def request_stop() -> None:
    """Ask this process's workers to stop (idempotent)."""
    if not _requested.is_set():
        _since.append(time.monotonic())
        _requested.set()


def stop_requested() -> bool:
    return _requested.is_set()


def grace_over(grace_s: float) -> bool:
    """A stop was requested at least ``grace_s`` seconds ago."""
    return bool(_since) and time.monotonic() - _since[0] >= grace_s


def reset() -> None:
    """Forget a stop request (tests, and a process that runs a second command)."""
    _requested.clear()
    _since.clear()


@contextmanager
def interruptible() -> Iterator[None]:
    """The objective runs inside: :func:`cut` may raise into this thread meanwhile."""
    ident = threading.get_ident()
    with _lock:
        _running.add(ident)
    try:
        yield
    finally:
        with _lock:
            _running.discard(ident)


def cut(exc: type[BaseException], threads: set[int] | None = None) -> int:
    """Raise ``exc`` in the threads (default: all) whose objective runs now; returns how many."""
    with _lock:
        targets = _running if threads is None else _running & threads
        for ident in targets:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc))
        return len(targets)
