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

import warnings
from dataclasses import dataclass

import optuna
from sqlalchemy import text

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


_COUNT_SQL = text("SELECT state, count(*) FROM trials WHERE study_id = :sid GROUP BY state")


def count_trials(storage: optuna.storages.RDBStorage, study_id: int) -> StudyCounts:
    """One SQL query, no trial loaded into Python."""
    with storage.engine.connect() as conn:
        rows: dict[str, int] = dict(conn.execute(_COUNT_SQL, {"sid": study_id}).all())
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
    """
    study_id = study._study_id
    with storage.engine.connect() as conn:
        conn.execute(
            text("SELECT pg_advisory_lock(:ns, :sid)"), {"ns": LOCK_NAMESPACE, "sid": study_id}
        )
        conn.commit()
        try:
            optuna.storages.fail_stale_trials(study)
            counts = count_trials(storage, study_id)
            if counts.slots_taken >= n_trials:
                return None
            if waiting_only and counts.waiting == 0:
                return None
            return study.ask()
        finally:
            conn.execute(
                text("SELECT pg_advisory_unlock(:ns, :sid)"),
                {"ns": LOCK_NAMESPACE, "sid": study_id},
            )
            conn.commit()
