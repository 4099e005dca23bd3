"""Exact budgets: a worker claims a trial slot before it runs a trial.

Optuna's own ``n_trials``/``MaxTrialsCallback`` count per worker or after the fact, so W workers on
a budget of N end with up to N + W - 1 trials. Here a worker takes a per-study PostgreSQL advisory
lock, fails stale trials (workers that died), counts the slots already taken (RUNNING, COMPLETE
and PRUNED trials) and only then asks for a trial, which is RUNNING when the lock is released.
A trial that fails frees its slot, so the study ends with exactly N finished (COMPLETE or PRUNED)
trials whatever the number of workers. WAITING trials (enqueued grid points, retries of trials
whose worker died) are handed out first by ``study.ask()``; Optuna moves a WAITING trial to
RUNNING with a row lock, so two workers never get the same one.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass

import optuna
from sqlalchemy import Connection, text

from hpo.store import LOCK_NAMESPACE

# Process-wide (warnings.catch_warnings is not thread-safe): heartbeats are Optuna-experimental,
# and our own heartbeat thread (workers/trial_runner.py) makes them work with ask/tell.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", "Heartbeat of storage is supposed", UserWarning)

SLOT_STATES = ("RUNNING", "COMPLETE", "PRUNED")
FINISHED_STATES = ("COMPLETE", "PRUNED")


@dataclass(frozen=True)
class StudyCounts:
    """Trials of one study by state."""

    running: int
    complete: int
    pruned: int
    failed: int
    waiting: int

    @property
    def finished(self) -> int:
        return self.complete + self.pruned

    @property
    def slots_taken(self) -> int:
        return self.running + self.complete + self.pruned


_one_claimer_per_process = threading.Lock()
_LOCK_SQL = text("SELECT pg_advisory_xact_lock(:ns, :sid)")
_COUNT_SQL = text("SELECT state, count(*) FROM trials WHERE study_id = :sid GROUP BY state")


def count_trials(
    storage: optuna.storages.RDBStorage, study_id: int, conn: Connection | None = None
) -> StudyCounts:
    """One SQL query, no trial loaded into Python (on ``conn`` when given)."""
    if conn is None:
        with storage.engine.connect() as own:
            return count_trials(storage, study_id, own)
    rows = {str(state): int(n) for state, n in conn.execute(_COUNT_SQL, {"sid": study_id})}
    return StudyCounts(
        running=int(rows.get("RUNNING", 0)),
        complete=int(rows.get("COMPLETE", 0)),
        pruned=int(rows.get("PRUNED", 0)),
        failed=int(rows.get("FAIL", 0)),
        waiting=int(rows.get("WAITING", 0)),
    )


def claim_trial(
    study: optuna.Study,
    storage: optuna.storages.RDBStorage,
    n_trials: int,
    *,
    waiting_only: bool = False,
) -> optuna.Trial | None:
    """A new RUNNING trial of ``study``, or None when the budget is taken.

    ``waiting_only`` (the grid sampler): hand out enqueued trials only, never sample new ones.

    The lock is transaction-scoped (``pg_advisory_xact_lock``) and held on one connection for
    the whole claim, so it is released even if this process dies, and it also works behind
    PgBouncer in transaction-pooling mode. A claim uses two connections: that one and the one
    ``study.ask()`` commits the new trial on. Threads of one process claim one at a time, so a
    claimer holding its lock connection never waits for a second one that other claimers hold
    (with a small pool that would deadlock); trial threads only borrow connections briefly.
    """
    study_id = study._study_id
    with _one_claimer_per_process, storage.engine.connect() as conn, conn.begin():
        conn.execute(_LOCK_SQL, {"ns": LOCK_NAMESPACE, "sid": study_id})
        optuna.storages.fail_stale_trials(study)
        counts = count_trials(storage, study_id, conn)
        if counts.slots_taken >= n_trials:
            return None
        if waiting_only and counts.waiting == 0:
            return None
        return study.ask()
