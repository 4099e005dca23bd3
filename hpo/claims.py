"""Exact budgets: a worker claims a trial slot before it runs a trial.

Optuna's own ``n_trials``/``MaxTrialsCallback`` count per worker or after the fact, so W workers on
a budget of N end with up to N + W - 1 trials. Here a worker takes a per-study PostgreSQL advisory
lock, fails stale trials (workers that died), counts the slots already taken (RUNNING, COMPLETE
and PRUNED trials) and only then asks for a trial, which is RUNNING when the lock is released.
A trial that fails frees its slot, so the study ends with exactly N finished (COMPLETE or PRUNED)
trials whatever the number of workers. With the fast store (``hpo.storage``) the lock is held
only by the transaction that counts and creates the trial (:mod:`hpo.storage.budget`), not while
the sampler picks its params. WAITING trials (enqueued grid points, retries of trials
whose worker died) are handed out first by ``study.ask()``; Optuna moves a WAITING trial to
RUNNING with a row lock, so two workers never get the same one.

The claim's count is one query that costs the same at 100,000 trials as at 100
(:func:`claim_counts`): the study's trial count is its last trial number plus one (Optuna numbers
a study's trials 0, 1, 2, ... under a lock on the study row), and only the RUNNING, FAIL and
WAITING trials, which are few, are counted row by row (index on ``(study_id, state)``). Were the
numbers ever not contiguous, the count would be too high and the budget would stop early, never
late. :func:`count_trials` is the exact count by state, for reports.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, replace

import optuna
from sqlalchemy import Connection, text

from hpo.leases import fail_stale_trials
from hpo.storage import StudyStorage
from hpo.storage.budget import BudgetTaken, SlotCounts, TrialBudget
from hpo.storage.counts import StateCounts
from hpo.store import LOCK_NAMESPACE

# Process-wide (warnings.catch_warnings is not thread-safe): heartbeats are Optuna-experimental,
# and our own heartbeat thread (workers/trial_runner.py) makes them work with ask/tell.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", "Heartbeat of storage is supposed", UserWarning)

SLOT_STATES = ("RUNNING", "COMPLETE", "PRUNED")
FINISHED_STATES = ("COMPLETE", "PRUNED")


@dataclass(frozen=True)
class Claim:
    """The outcome of :func:`claim_next`: a RUNNING trial, or None and why the worker stops."""

    trial: optuna.Trial | None
    counts: SlotCounts | None = None  # None: a fast claim that created its trial uncounted
    stopped_because: str | None = None


_one_claimer_per_process = threading.Lock()
_LOCK_SQL = text("SELECT pg_advisory_xact_lock(:ns, :sid)")
_COUNT_SQL = text("SELECT state, count(*) FROM trials WHERE study_id = :sid GROUP BY state")
_CLAIM_COUNT_SQL = text(
    """
    SELECT (SELECT coalesce(max(number) + 1, 0) FROM trials WHERE study_id = :sid),
           count(*) FILTER (WHERE state = 'RUNNING'),
           count(*) FILTER (WHERE state = 'FAIL'),
           count(*) FILTER (WHERE state = 'WAITING'),
           count(*) FILTER (WHERE state = 'RUNNING' AND EXISTS (
               SELECT 1 FROM trial_heartbeats h WHERE h.trial_id = trials.trial_id
               AND h.heartbeat < LOCALTIMESTAMP - CAST(:grace AS float8) * interval '1 second'))
    FROM trials WHERE study_id = :sid AND state IN ('RUNNING', 'FAIL', 'WAITING')
    """
)


def count_trials(
    storage: optuna.storages.RDBStorage, study_id: int, conn: Connection | None = None
) -> StateCounts:
    """One SQL query, no trial loaded into Python (on ``conn`` when given)."""
    if conn is None:
        with storage.engine.connect() as own:
            return count_trials(storage, study_id, own)
    return StateCounts.from_rows(
        {str(state): int(n) for state, n in conn.execute(_COUNT_SQL, {"sid": study_id})}
    )


def claim_counts(
    conn: Connection, study_id: int, storage: optuna.storages.RDBStorage
) -> SlotCounts:
    """The counts a claim needs, in one query whose cost does not grow with the study (see the
    module doc); stale trials are counted with the storage's grace period."""
    grace: float | None = None
    if storage.heartbeat_interval is not None:
        grace = float(storage.grace_period or 2 * storage.heartbeat_interval)
    row = conn.execute(_CLAIM_COUNT_SQL, {"sid": study_id, "grace": grace}).one()
    total, running, fail, waiting, stale = (int(v) for v in row)
    return SlotCounts(total, running, fail, waiting, stale)


def _stop_reason(
    counts: SlotCounts, n_trials: int, waiting_only: bool, max_failed: int
) -> str | None:
    if counts.fail >= max_failed > 0:
        return f"{max_failed} trials failed (budget.max_failed_trials)"
    if counts.slots_taken >= n_trials or (waiting_only and counts.waiting == 0):
        return "grid exhausted or budget reached" if waiting_only else "budget reached"
    return None


def claim_next(
    study: optuna.Study,
    storage: StudyStorage,
    n_trials: int,
    *,
    waiting_only: bool = False,
    max_failed: int = 0,
) -> Claim:
    """A new RUNNING trial of ``study``, or none when the budget is taken, when
    ``max_failed > 0`` trials failed, or (``waiting_only``, the grid sampler) when no enqueued
    trial is left: then ``stopped_because`` says which.

    Stale trials (no heartbeat for the grace period) are failed first; the heartbeat callback
    re-enqueues their params. With a fast store the claim holds the lock only for the
    transaction that creates the trial (:func:`_claim_within_budget`); otherwise for the whole
    claim (:func:`_claim_under_lock`).
    """
    if storage.creates_trials_within_budget:
        return _claim_within_budget(study, storage, n_trials, waiting_only, max_failed)
    return _claim_under_lock(study, storage, n_trials, waiting_only, max_failed)


def _claim_under_lock(
    study: optuna.Study,
    storage: StudyStorage,
    n_trials: int,
    waiting_only: bool,
    max_failed: int,
) -> Claim:
    """The lock is transaction-scoped (``pg_advisory_xact_lock``) and held on one connection for
    the whole claim, so it is released even if this process dies, and it also works behind
    PgBouncer in transaction-pooling mode. A claim uses two connections: that one and the one
    ``study.ask()`` commits the new trial on. Threads of one process claim one at a time, so a
    claimer holding its lock connection never waits for a second one that other claimers hold
    (with a small pool that would deadlock); trial threads only borrow connections briefly."""
    study_id = study._study_id
    with _one_claimer_per_process, storage.engine.connect() as conn, conn.begin():
        conn.execute(_LOCK_SQL, {"ns": LOCK_NAMESPACE, "sid": study_id})
        counts = claim_counts(conn, study_id, storage)
        if counts.stale:
            fail_stale_trials(study, storage)
            counts = claim_counts(conn, study_id, storage)
        reason = _stop_reason(counts, n_trials, waiting_only, max_failed)
        if reason is not None:
            return Claim(None, counts, reason)
        return Claim(study.ask(), counts)


def _claim_within_budget(
    study: optuna.Study,
    storage: StudyStorage,
    n_trials: int,
    waiting_only: bool,
    max_failed: int,
) -> Claim:
    """Let ``study.ask()`` create the trial within the budget: the fast store takes the claim
    lock, counts and inserts in one message (:mod:`hpo.storage.budget`), so the lock is held
    neither across round trips nor while the sampler runs, and a claim usually costs one round
    trip. When no trial was created the counts say why: stale trials are failed (no lock needed:
    only one claimer's update of a trial's state succeeds, and only that one re-enqueues its
    params) and WAITING trials handed out, then the claim tries again; else the worker stops.
    The grid sampler only hands out WAITING trials (after a count)."""
    study_id = study._study_id
    budget = TrialBudget(
        study_id=study_id,
        n_trials=n_trials,
        lock=(LOCK_NAMESPACE, study_id),
        create=not waiting_only,
        skip_waiting=not waiting_only,
        max_failed=max_failed,
    )
    counts: SlotCounts | None = None
    for _ in range(4):
        if waiting_only:
            counts = _count_now(storage, study_id)
            if counts.stale:
                fail_stale_trials(study, storage)
                counts = _count_now(storage, study_id)
            reason = _stop_reason(counts, n_trials, waiting_only, max_failed)
            if reason is not None:
                return Claim(None, counts, reason)
        try:
            with storage.trial_budget(budget):
                return Claim(study.ask(), counts)
        except BudgetTaken as taken:
            if taken.counts is None:  # grid: the WAITING trials went to other workers
                continue
            counts = taken.counts
        if counts.stale:
            fail_stale_trials(study, storage)
        elif (
            counts.waiting
            and budget.skip_waiting
            and _stop_reason(counts, n_trials, waiting_only, max_failed) is None
        ):
            budget = replace(budget, skip_waiting=False)  # hand the WAITING trials out first
        else:
            break
    counts = _count_now(storage, study_id) if counts is None or waiting_only else counts
    reason = _stop_reason(counts, n_trials, waiting_only, max_failed)
    default = "grid exhausted or budget reached" if waiting_only else "budget reached"
    return Claim(None, counts, reason or default)


def _count_now(storage: optuna.storages.RDBStorage, study_id: int) -> SlotCounts:
    """:func:`claim_counts` in a transaction of its own (autocommit: one round trip)."""
    with storage.engine.connect() as conn:
        return claim_counts(conn.execution_options(isolation_level="AUTOCOMMIT"), study_id, storage)
