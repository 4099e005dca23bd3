"""Heartbeats of a worker's running trial: the trial's lease on its slot.

One thread per worker (not one per trial) records the heartbeat of the worker's current trial
every ``heartbeat_interval`` seconds, so that a trial whose worker died can be told from one
that runs long (``hpo.claims`` fails it after the grace period and retries its params). A trial's
first heartbeat is written when it starts: by the fast store together with the trial itself,
else here, in the worker's own thread. Starting and joining a thread per trial cost several
milliseconds per trial on a busy machine (two threads handing the interpreter lock back and
forth); the long-lived thread only wakes once per interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from hpo.storage import StudyStorage

logger = logging.getLogger(__name__)


class Heartbeat:
    """Beats for the trial inside :meth:`running`; call :meth:`close` when the worker stops."""

    def __init__(self, storage: StudyStorage) -> None:
        self._storage = storage
        self._interval = storage.get_heartbeat_interval()
        self._first_is_written = storage.records_first_heartbeat
        self._current: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def running(self, trial_id: int) -> Iterator[None]:
        """The trial ``trial_id`` runs inside the block: it gets a heartbeat now (unless the
        store wrote it with the trial) and every interval until the block ends."""
        if self._interval is None:
            yield
            return
        if not self._first_is_written:
            self._beat(trial_id)
        with self._lock:
            self._current = trial_id
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hpo-heartbeat", daemon=True)
            self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._current = None

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        assert self._interval is not None
        while not self._stop.wait(self._interval):
            with self._lock:
                trial_id = self._current
            if trial_id is not None:
                self._beat(trial_id)

    def _beat(self, trial_id: int) -> None:
        try:
            self._storage.record_heartbeat(trial_id)
        except Exception as exc:  # a blip must not kill the trial; the grace period covers it
            logger.warning("heartbeat of trial id %d failed: %s", trial_id, exc)
